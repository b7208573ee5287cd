"""`lakehouse catalog bootstrap`: the bucket and namespaces, created idempotently.
`lakehouse catalog keygen`: a key pair and token for a deployment's Nessie (docs/deploy.md)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from lakehouse.config.settings import load_settings

console = Console()


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The Iceberg catalog (Nessie REST).", no_args_is_help=True)
    app.add_typer(group, name="catalog")

    @group.command("bootstrap")
    def bootstrap_cmd(profile: str = typer.Option(None, "--profile", "-p")) -> None:
        """Create the bucket and every namespace (configured + declared by endpoints)."""
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.tables.bootstrap import bootstrap

        result = bootstrap(load_settings(profile))
        console.print(
            f"bucket {'created' if result.bucket_created else 'present'}; namespaces "
            f"{', '.join(result.namespaces)} (created: {', '.join(result.created) or 'none'})"
        )

    @group.command("keygen")
    def keygen_cmd(
        days: int = typer.Option(365, "--days", min=1, max=3650, help="How long the token is valid."),
    ) -> None:
        """Print NESSIE_OIDC_PUBLIC_KEY and LAKEHOUSE_CATALOG__TOKEN lines for .env.

        Nessie verifies the token against the key; the private key is not kept: run this
        again (and restart the stack) to revoke a token or when it nears expiry.
        """
        from datetime import timedelta

        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.tables.catalog_auth import keygen_env

        # Plain stdout, no rich markup: meant for `>> .env`.
        sys.stdout.write(keygen_env(timedelta(days=days)))
