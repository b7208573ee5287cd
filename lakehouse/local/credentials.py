"""The local stack's secrets: the S3 key pair, the Redis password and the Spark Connect token, generated
once per state directory.

A fixed key pair (or token) in the repo would be a default password; instead the
first `up` writes random values as secret files (owner-only, in an owner-only
directory) that `load_settings` reads. Values already given in the environment are
used as they are.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from lakehouse.local.files import write_private
from lakehouse.settings import SECRET_FIELDS, Settings

_GENERATED: dict[tuple[str, str], Callable[[], str]] = {
    ("s3", "access_key_id"): lambda: "lh" + secrets.token_hex(8),
    ("s3", "secret_access_key"): lambda: secrets.token_urlsafe(30),
    # The Connect server requires it; clients add it to the sc:// URL at session start.
    ("spark", "connect_token"): lambda: secrets.token_urlsafe(32),
    # Redis runs with requirepass (a config file, never argv); every client sends it.
    # Hex: safe inside the config file's quoted value and in a redis:// URL.
    ("redis", "password"): lambda: secrets.token_hex(24),
}


def ensure_local_credentials(settings: Settings) -> bool:
    """Write the missing secret files. Returns True when any was generated."""
    directory = settings.local.secrets_dir
    wrote = False
    for (section, field), make in _GENERATED.items():
        if getattr(getattr(settings, section), field) is not None:
            continue
        env_name = SECRET_FIELDS[(section, field)]
        path = directory / env_name
        if path.exists():
            continue
        _write_secret(path, make())
        wrote = True
    return wrote


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_private(path, value + "\n", exclusive=True)
