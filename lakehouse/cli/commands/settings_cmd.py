"""`lakehouse settings`: print the active settings with secrets masked."""

from __future__ import annotations

import json

import typer

from lakehouse.config.settings import load_settings


def register(app: typer.Typer) -> None:
    @app.command("settings")
    def show_settings(
        profile: str = typer.Option(
            None, "--profile", "-p", help="Profile in config/profiles (default: $LAKEHOUSE_PROFILE or local)."
        ),
    ) -> None:
        """Show the resolved settings (profile + environment); secrets are masked."""
        typer.echo(json.dumps(load_settings(profile).redacted(), indent=2, default=str))
