"""`python -m lakehouse.ops.secrets_check`: the Compose deployment's first one-shot. It
refuses to let the stack start while a secret is missing, still the `.env.example`
placeholder, or too short to be a generated one, naming the variable. Every service of
docker/compose.yaml waits for it (`service_completed_successfully`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import typer

from lakehouse.cli._errors import exit_code

#: the secrets of .env.example, each with the shortest value accepted
SECRETS: dict[str, int] = {
    # An access key id is a user name more than a secret; RustFS wants at least 3.
    "LAKEHOUSE_S3__ACCESS_KEY_ID": 3,
    "LAKEHOUSE_S3__SECRET_ACCESS_KEY": 16,
    "LAKEHOUSE_REDIS__PASSWORD": 16,
    "LAKEHOUSE_SPARK__CONNECT_TOKEN": 16,
    "LAKEHOUSE_SPARK__AUTH_SECRET": 16,
    "NESSIE_POSTGRES_PASSWORD": 16,
    # A base64 DER RSA public key (2048 bits: 392 characters) and the RS256 token it
    # verifies; neither can be short. Not secret, the key, but required all the same.
    "NESSIE_OIDC_PUBLIC_KEY": 300,
    "LAKEHOUSE_CATALOG__TOKEN": 100,
    "AIRFLOW_POSTGRES_PASSWORD": 16,
    "AIRFLOW_BROKER_PASSWORD": 16,
    "AIRFLOW_FERNET_KEY": 16,
    "AIRFLOW_JWT_SECRET": 16,
    "AIRFLOW_API_SECRET_KEY": 16,
    "AIRFLOW_ADMIN_PASSWORD": 16,
    "JUPYTER_TOKEN": 16,
    "TRINO_PASSWORD": 16,
}
#: how to make a value, where `openssl rand -hex 24` will not do
HOW = {
    "NESSIE_OIDC_PUBLIC_KEY": "`lakehouse catalog keygen` (docs/deploy.md)",
    "LAKEHOUSE_CATALOG__TOKEN": "`lakehouse catalog keygen` (docs/deploy.md)",
}
#: values that tutorials and .env.example ship with
PLACEHOLDERS = frozenset({"change-me", "changeme", "change_me", "secret", "password", "admin", "minioadmin"})


def problems(env: Mapping[str, str]) -> list[str]:
    """One line per unusable secret: its name and why (never its value)."""
    found = []
    for name, shortest in SECRETS.items():
        value = env.get(name, "")
        how = HOW.get(name, "openssl rand -hex 24")
        if not value:
            found.append(f"{name} is not set: put a generated value in .env ({how})")
        elif value.strip().lower() in PLACEHOLDERS:
            found.append(f"{name} is still the placeholder of .env.example: replace it with a generated value")
        elif len(value) < shortest:
            found.append(f"{name} is {len(value)} characters; use at least {shortest} ({how})")
    return found


app = typer.Typer(add_completion=False)


@app.command(help=__doc__.split("\n\n")[0] if __doc__ else None)
def _check() -> int:
    found = problems(os.environ)
    for line in found:
        print(f"secrets-check: {line}", file=sys.stderr)
    if not found:
        print(f"secrets-check: {len(SECRETS)} secrets set")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    return exit_code(app, argv, prog_name="python -m lakehouse.ops.secrets_check")


if __name__ == "__main__":
    raise SystemExit(main())
