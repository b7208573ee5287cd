"""Spark's own RPC asks for a credential: ``spark.authenticate`` on every JVM.

A driver opens two ports beside whatever it serves (``spark.driver.port``, its RPC
endpoint, and ``spark.blockManager.port``); a standalone master and worker open theirs.
Without authentication any client that reaches them can talk Spark's RPC: fetch
blocks, register executors, read the tasks the driver sends (Iceberg serialises its
FileIO, S3 keys included, into them). With ``spark.authenticate`` every connection
first proves it holds the shared secret (an anonymous RPC is answered "Expected
SaslMessage"), and ``spark.network.crypto.enabled`` encrypts what follows.

Where the secret comes from (Spark 4.1, ``SecurityManager.initializeAuth``):

- a ``local[...]`` master: Spark generates one per process; nothing to configure;
- a standalone master (``spark://``): ``spark.authenticate.secret`` must be in the
  conf of the master, every worker and every driver (Spark ignores
  ``spark.authenticate.secret.file`` there). It is never put on argv (``ps`` shows it
  to every user): :func:`write_conf_dir` writes a private ``spark-defaults.conf`` with
  it and the base conf, and the JVM is pointed at it with ``SPARK_CONF_DIR``, which
  spark-submit and spark-class read themselves. Workers hand it to their executors
  through the environment, as Spark does.

``python -m lakehouse.engines.spark_auth exec -- <command>`` does that for a container of the
Compose deployment: it writes the private conf dir from ``$SPARK_CONF_DIR`` (the baked
spark-defaults.conf) and ``LAKEHOUSE_SPARK__AUTH_SECRET``, then runs the command with
``SPARK_CONF_DIR`` pointing at it. The web UIs ask for a bearer token derived from the
same secret (``python -m lakehouse.engines.spark_auth ui-token`` prints one; ``ui-check URL`` is
the containers' health check).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from lakehouse.cli._errors import exit_code
from lakehouse.config.settings import SECRET_FIELDS, Settings
from lakehouse.local.files import write_private

#: non-secret: on every Spark JVM we start (launch conf, spark-defaults.conf)
AUTH_CONF: dict[str, str] = {
    "spark.authenticate": "true",
    # The RPC carries tasks with the S3 keys inside; on a network, encrypt it (AES, keys
    # derived from the shared secret). Spark's SASL fallback still requires the secret.
    "spark.network.crypto.enabled": "true",
}
SECRET_KEY = "spark.authenticate.secret"
# The web UIs of a standalone master and worker (and of a driver that turns its UI on)
# take only requests with a bearer JWS signed with a key derived from the same secret
# (Spark 4's JWSFilter answers 403 otherwise): the master UI can kill applications.
UI_FILTER = "org.apache.spark.ui.JWSFilter"
UI_KEY_CONF = f"spark.{UI_FILTER}.param.secretKey"
SECRET_ENV = SECRET_FIELDS[("spark", "auth_secret")]
DEFAULTS_FILE = "spark-defaults.conf"


class SparkAuthSecretError(ValueError):
    """The secret cannot be written into a spark-defaults.conf line as it is."""


def needs_secret(master: str) -> bool:
    """Local mode generates its own secret; every other master needs the shared one."""
    return not master.startswith("local")


def defaults_text(secret: str, base: str = "") -> str:
    """``base`` (a spark-defaults.conf) with Spark's authentication and the secret."""
    if not secret or any(ch.isspace() for ch in secret) or "#" in secret:
        raise SparkAuthSecretError(
            f"{SECRET_ENV} must be a single word without '#' (a generated value: openssl rand -hex 32)"
        )
    ours = {*AUTH_CONF, SECRET_KEY, "spark.ui.filters", UI_KEY_CONF}
    kept = [line for line in base.splitlines() if not line.split() or line.split()[0] not in ours]
    lines = [*kept, "# Added by lakehouse.engines.spark_auth (this copy is private to its owner)."]
    lines += [f"{key} {value}" for key, value in AUTH_CONF.items()]
    lines.append(f"{SECRET_KEY} {secret}")
    lines.append(f"spark.ui.filters {UI_FILTER}")
    lines.append(f"{UI_KEY_CONF} {base64.urlsafe_b64encode(ui_key(secret)).decode()}")
    return "\n".join(lines) + "\n"


def ui_key(secret: str) -> bytes:
    """The UIs' HMAC key: 256 bits (JJWT refuses less for HS256) whatever the secret's
    length, and not the RPC secret itself."""
    return hashlib.sha256(b"lakehouse spark ui\0" + secret.encode()).digest()


def ui_headers(secret: str, lifetime: timedelta = timedelta(minutes=5)) -> dict[str, str]:
    """What a client of a Spark web UI sends: a short-lived HS256 token."""
    import jwt

    claims = {"sub": "lakehouse", "exp": datetime.now(UTC) + lifetime}
    return {"Authorization": f"Bearer {jwt.encode(claims, ui_key(secret), algorithm='HS256')}"}


def write_conf_dir(directory: Path, secret: str, base_conf_dir: Path | None = None) -> Path:
    """A private (0700) conf dir whose spark-defaults.conf (0600) is the one in
    ``base_conf_dir`` (if any) plus the authentication and the secret. Returns it."""

    base_file = base_conf_dir / DEFAULTS_FILE if base_conf_dir else None
    base = base_file.read_text() if base_file and base_file.is_file() else ""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    write_private(directory / DEFAULTS_FILE, defaults_text(secret, base))
    return directory


def driver_conf_dir(settings: Settings) -> Path:
    """The conf dir a driver for a standalone master starts with: ``SPARK_CONF_DIR``'s
    spark-defaults.conf (if set) plus the secret, in the state dir (owner-only)."""
    target = settings.local.state_dir / "spark-auth"
    base = os.environ.get("SPARK_CONF_DIR")
    base_dir = Path(base) if base and Path(base) != target else None
    return write_conf_dir(target, settings.spark.require_auth_secret(), base_dir)


def _exec(command: list[str]) -> int:
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"spark_auth: {SECRET_ENV} is not set; Spark's RPC would take anonymous clients", file=sys.stderr)
        return 2
    base = os.environ.get("SPARK_CONF_DIR")
    target = write_conf_dir(Path(tempfile.mkdtemp(prefix="spark-conf-")), secret, Path(base) if base else None)
    env = {**os.environ, "SPARK_CONF_DIR": str(target)}
    # The secret stays in this container's environment (compose put it there); the
    # command reads it from the private file, so it needs no copy on argv.
    os.execvpe(command[0], command, env)
    return 1  # not reached


def _ui_check(url: str) -> int:
    """A health check of a Spark web UI from inside its container: 0 when it answers."""
    import urllib.request

    request = urllib.request.Request(url, headers=ui_headers(os.environ.get(SECRET_ENV, "")))
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310  (our own http URL)
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"spark_auth: {url}: {exc}", file=sys.stderr)
        return 1


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=__doc__.split("\n\n")[0] if __doc__ else None,
)


def _require_secret() -> None:
    if not os.environ.get(SECRET_ENV):
        print(f"spark_auth: {SECRET_ENV} is not set", file=sys.stderr)
        raise typer.Exit(2)


@app.command(
    "exec",
    # Everything after the first word (or after `--`) is the command and its own flags.
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def _exec_command(
    command: list[str] = typer.Argument(None, help="the Spark command and its arguments (after --)"),
) -> int:
    """Run a Spark command with a private conf dir holding the secret."""
    if not command:
        print("spark_auth: exec needs a command", file=sys.stderr)
        return 2
    return _exec(list(command))


@app.command("ui-token", help=f"Print a 1-hour bearer token for the Spark web UIs (from ${SECRET_ENV}).")
def _ui_token_command() -> int:
    _require_secret()
    print(ui_headers(os.environ.get(SECRET_ENV, ""), timedelta(hours=1))["Authorization"].removeprefix("Bearer "))
    return 0


@app.command("ui-check")
def _ui_check_command(url: str = typer.Argument(..., help="the web UI's URL")) -> int:
    """Exit 0 when the Spark web UI at URL answers 200 (a health check)."""
    _require_secret()
    return _ui_check(url)


def main(argv: list[str] | None = None) -> int:
    return exit_code(app, argv, prog_name="python -m lakehouse.engines.spark_auth")


if __name__ == "__main__":
    raise SystemExit(main())
