"""The local Jupyter service: loopback only, a generated owner-only token that is on no
command line, and kernels that start with lakehouse.analyst."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.errors import StackError
from lakehouse.local.services.jupyter_server import JupyterService
from lakehouse.local.stack import OPTIONAL_SERVICES


def _service(tmp_path: Path, **local: object) -> JupyterService:
    return JupyterService(load_settings(local={"state_dir": tmp_path, "jupyter_port": 18991, **local}))


def test_token_generated_owner_only_and_never_on_argv(tmp_path: Path) -> None:
    service = _service(tmp_path)
    service.prepare()
    token = service.token()
    assert token and len(token) >= 32
    assert service.token_file == tmp_path / "secrets" / "JUPYTER_TOKEN"
    assert service.token_file.stat().st_mode & 0o777 == 0o600
    assert all(token not in arg for arg in service.command())
    assert service.env()["JUPYTER_TOKEN"] == token
    assert "--ServerApp.ip=127.0.0.1" in service.command() and "--ServerApp.port=18991" in service.command()
    service.prepare()
    assert service.token() == token, "kept across ups"
    assert service.login_url() == f"http://127.0.0.1:18991/lab?token={token}"
    assert "jupyter" in OPTIONAL_SERVICES


def test_kernels_start_with_the_analyst_helpers(tmp_path: Path) -> None:
    service = _service(tmp_path)
    service.prepare()
    startup = Path(service.env()["IPYTHONDIR"]) / "profile_default" / "startup" / "00-lakehouse.py"
    assert "from lakehouse.analyst import *" in startup.read_text()
    compose = Path(__file__).resolve().parents[4] / "docker" / "jupyter" / "00-lakehouse.py"
    assert "from lakehouse.analyst import *" in compose.read_text(), "one module for both"


def test_refuses_a_non_loopback_bind(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="not a loopback address"):
        _service(tmp_path, bind_host="0.0.0.0").prepare()


def test_importing_the_helpers_connects_to_nothing(tmp_path: Path) -> None:
    # No settings loaded, no pyspark or duckdb imported, no catalog client built.
    code = (
        "import sys; import lakehouse.analyst as a; "
        "assert not {'pyspark', 'duckdb', 'pyiceberg.catalog'} & set(sys.modules); "
        "assert '_loaded' not in vars(a.settings); print('lazy')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LAKEHOUSE_PROFILE": "no-such-profile", "PATH": "/usr/bin"},
    )
    assert out.returncode == 0 and "lazy" in out.stdout, out.stderr
