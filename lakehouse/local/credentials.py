"""The local stack's secrets: the S3 key pair, the Redis password, the Spark Connect token,
Spark's RPC secret and the catalog's signing key and bearer token, generated once per state directory.

A fixed key pair (or token) in the repo would be a default password; instead the
first `up` writes random values as secret files (owner-only, in an owner-only
directory) that `load_settings` reads. Values already given in the environment are
used as they are.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from lakehouse.config.settings import SECRET_FIELDS, Settings
from lakehouse.local.files import write_private
from lakehouse.tables import catalog_auth

# The catalog's RSA private key: Nessie is configured with its public half, and the
# stack mints the catalog token (LAKEHOUSE_CATALOG__TOKEN) with it. No client reads it.
SIGNING_KEY_FILE = "catalog-signing-key.pem"
TOKEN_ENV = SECRET_FIELDS[("catalog", "token")]

_GENERATED: dict[tuple[str, str], Callable[[], str]] = {
    ("s3", "access_key_id"): lambda: "lh" + secrets.token_hex(8),
    ("s3", "secret_access_key"): lambda: secrets.token_urlsafe(30),
    # The Connect server requires it; clients add it to the sc:// URL at session start.
    ("spark", "connect_token"): lambda: secrets.token_urlsafe(32),
    # Spark's RPC secret for the standalone cluster of `up --with spark` and its drivers.
    # Hex: it goes into a spark-defaults.conf line as it is.
    ("spark", "auth_secret"): lambda: secrets.token_hex(32),
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
    return ensure_catalog_token(settings) or wrote


def signing_key(settings: Settings) -> str:
    """The stack's catalog signing key (PEM); written by ensure_catalog_token."""
    return (settings.local.secrets_dir / SIGNING_KEY_FILE).read_text()


def ensure_catalog_token(settings: Settings) -> bool:
    """Make the signing key on the first `up`, and mint the catalog token when there is
    none, when it is not of this key, or when a quarter of its lifetime is left. A token
    given in the environment is used as it is (its issuer configures Nessie then).
    Returns True when anything was written."""
    directory = settings.local.secrets_dir
    key_path = directory / SIGNING_KEY_FILE
    wrote = False
    if not key_path.exists():
        _write_secret(key_path, catalog_auth.generate_signing_key().strip())
        wrote = True
    if os.environ.get(TOKEN_ENV):
        return wrote
    token_path = directory / TOKEN_ENV
    current = token_path.read_text().strip() if token_path.exists() else None
    lifetime = timedelta(days=settings.catalog.token_lifetime_days)
    private = key_path.read_text()
    if catalog_auth.needs_new_token(current, private, lifetime):
        # Replaced whole (rename), so a client reading it never sees half a token.
        staging = token_path.with_name(token_path.name + ".new")
        staging.unlink(missing_ok=True)
        write_private(staging, catalog_auth.mint_token(private, lifetime) + "\n", exclusive=True)
        os.replace(staging, token_path)
        wrote = True
    return wrote


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_private(path, value + "\n", exclusive=True)
