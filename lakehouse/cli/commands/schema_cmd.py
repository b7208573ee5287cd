"""`lakehouse schema`: write the JSON Schema of endpoint YAML files for editors
(lakehouse.endpoints.json_schema), or check that the committed one is current."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def schema(
        output: Annotated[
            Path | None,
            typer.Option(
                "--output", "-o", dir_okay=False, help="Where to write it (default: the endpoints dir's parent)."
            ),
        ] = None,
        check: Annotated[
            bool, typer.Option("--check", help="Write nothing; exit 1 when the file differs from the config model.")
        ] = False,
    ) -> None:
        """Write the JSON Schema of endpoint YAML files (editors complete and check fields with it)."""
        from lakehouse.config import paths
        from lakehouse.endpoints.json_schema import SCHEMA_FILE, schema_text, write_schema

        path = output or paths.endpoints_dir().parent / SCHEMA_FILE
        if check:
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if current != schema_text():
                typer.echo(
                    f"{path} is not the schema of this lakehouse's config model: run `lakehouse schema`", err=True
                )
                raise SystemExit(1)
            typer.echo(f"{path} is current")
            return
        changed = write_schema(path)
        typer.echo(f"{'wrote' if changed else 'unchanged:'} {path}")
