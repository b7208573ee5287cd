"""`lakehouse catalog bootstrap`: the bucket and namespaces, created idempotently."""

from __future__ import annotations

import typer
from rich.console import Console

from lakehouse.settings import load_settings

console = Console()


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The Iceberg catalog (Nessie REST).", no_args_is_help=True)
    app.add_typer(group, name="catalog")

    @group.command("bootstrap")
    def bootstrap_cmd(profile: str = typer.Option(None, "--profile", "-p")) -> None:
        """Create the bucket and every namespace (configured + declared by endpoints)."""
        from lakehouse.bootstrap import bootstrap

        result = bootstrap(load_settings(profile))
        console.print(
            f"bucket {'created' if result.bucket_created else 'present'}; namespaces "
            f"{', '.join(result.namespaces)} (created: {', '.join(result.created) or 'none'})"
        )
