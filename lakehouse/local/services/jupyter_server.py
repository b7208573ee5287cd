"""JupyterLab for the local stack (`lakehouse local up --with jupyter`), on 127.0.0.1.

- The notebook directory is the checkout's ``notebooks/``.
- A token is generated once per state directory into the stack's owner-only secrets
  directory (``<state_dir>/secrets/JUPYTER_TOKEN``, Jupyter's own variable name, as in
  the compose ``.env``) and shown by `up`. The server gets it through its environment
  (``JUPYTER_TOKEN``), never on argv; a request without it is refused (403).
- Every kernel starts with :mod:`lakehouse.analyst` (catalog, spark, duckdb, Nessie
  commits), from an IPython start-up file in the service's own ``IPYTHONDIR``; nothing
  connects at kernel start. Kernels inherit the stack's settings (``LAKEHOUSE_*``).
- Jupyter's config, data and runtime directories are the service's own, so a user's
  ``~/.jupyter`` (another ip, no token) cannot change what this server does, and no
  update check or news feed reaches for the internet.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import requests

from lakehouse.config import paths
from lakehouse.engines.spark_conf import is_loopback
from lakehouse.errors import StackError
from lakehouse.local.files import write_private
from lakehouse.local.service import Port, Service

PORT_SETTING = "LAKEHOUSE_LOCAL__JUPYTER_PORT"
TOKEN_FILE = "JUPYTER_TOKEN"
STARTUP_FILE = "00-lakehouse.py"
STARTUP_TEXT = '''"""Written by lakehouse.local.services.jupyter_server: the analyst helpers (lakehouse/analyst.py)."""
from lakehouse.analyst import *  # noqa: F401,F403
'''


class JupyterService(Service):
    name = "jupyter"

    @property
    def url(self) -> str:
        return f"http://{self.settings.local.bind_host}:{self.settings.local.jupyter_port}/lab"

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.local.bind_host}:{self.settings.local.jupyter_port}"

    def ports(self) -> list[Port]:
        return [Port("jupyter", self.settings.local.jupyter_port, PORT_SETTING)]

    @property
    def notebook_dir(self) -> Path:
        return paths.PROJECT_ROOT / "notebooks"

    @property
    def token_file(self) -> Path:
        return self.settings.local.secrets_dir / TOKEN_FILE

    def token(self) -> str | None:
        try:
            return self.token_file.read_text().strip() or None
        except OSError:
            return None

    def login_url(self) -> str | None:
        """The URL with the token, for the person who ran `up` (never logged)."""
        token = self.token()
        return f"{self.url}?token={token}" if token else None

    @property
    def ipython_dir(self) -> Path:
        return self.state_dir / "ipython"

    def prepare(self) -> None:
        if not is_loopback(self.settings.local.bind_host):
            raise StackError(
                f"jupyter would listen on {self.settings.local.bind_host}, which is not a loopback address; "
                "its kernels run any code with the stack's keys. Set LAKEHOUSE_LOCAL__BIND_HOST=127.0.0.1."
            )
        super().prepare()
        for sub in ("config", "data", "runtime"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.state_dir / "runtime").chmod(0o700)
        if self.token() is None:
            self.token_file.parent.mkdir(parents=True, exist_ok=True)
            self.token_file.parent.chmod(0o700)
            write_private(self.token_file, secrets.token_urlsafe(32) + "\n")
        # No "get notified about Jupyter news?" prompt and no update check: both reach
        # for the internet. A user's own later choice in the UI is kept.
        notification = self.state_dir / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        settings_file = notification / "notification.jupyterlab-settings"
        if not settings_file.exists():
            settings_file.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        startup = self.ipython_dir / "profile_default" / "startup"
        startup.mkdir(parents=True, exist_ok=True)
        (startup / STARTUP_FILE).write_text(STARTUP_TEXT)
        self.notebook_dir.mkdir(exist_ok=True)

    def env(self) -> dict[str, str]:
        token = self.token()
        env = {
            "JUPYTER_CONFIG_DIR": str(self.state_dir / "config"),
            "JUPYTER_DATA_DIR": str(self.state_dir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.state_dir / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "IPYTHONDIR": str(self.ipython_dir),
            "PYTHONUNBUFFERED": "1",
            # Matplotlib draws PNGs inline; no display server here.
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        }
        if token:
            env["JUPYTER_TOKEN"] = token
        return env

    def cwd(self) -> Path:
        return self.notebook_dir

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--ServerApp.ip={self.settings.local.bind_host}",
            f"--ServerApp.port={self.settings.local.jupyter_port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.notebook_dir}",
            "--ServerApp.allow_remote_access=False",
            # The token is required; no password login page that would accept none.
            "--ServerApp.password_required=False",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=None",
            # The extension manager would query PyPI; nothing is installed from the UI.
            "--LabApp.extension_manager=readonly",
            "--ServerApp.terminals_enabled=False",
            # Containers and CI run as root; Jupyter refuses that unless told.
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ]

    def is_healthy(self) -> bool:
        """The API answers this stack's token (so the server is ours and up)."""
        token = self.token()
        if not token:
            return False
        try:
            resp = requests.get(f"{self.base_url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2)
            return resp.status_code == 200
        except requests.RequestException:
            return False
