"""`lakehouse validate`: check every endpoint config before a DAG or a crawl uses it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lakehouse import paths
from lakehouse.endpoints import EndpointConfig, validate_all
from lakehouse.endpoints.loader import config_files, display_path


def describe(config: EndpointConfig) -> str:
    from lakehouse.sla import format_duration

    rate = config.rate_limit.describe()
    if config.rate_limit_key != config.name:
        rate += f" shared as {config.rate_limit_key!r}"
    table = f"  table {config.table.identifier}" if config.table else ""
    sla = f"  sla {format_duration(config.sla)}" if config.sla else ""
    return (
        f"ok  {config.name}  pagination {config.pagination.type}  rate {rate}  schedule {config.schedule!r}{table}{sla}"
    )


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate(
        directory: Annotated[
            Path | None,
            typer.Option(
                "--dir",
                "-d",
                file_okay=False,
                help="Directory of endpoint YAML files (default: config/endpoints or $LAKEHOUSE_ENDPOINTS_DIR).",
            ),
        ] = None,
    ) -> None:
        """Check every endpoint config; print each problem with its file and field path. Exits 1 on any error."""
        directory = directory or paths.endpoints_dir()
        configs, errors = validate_all(directory)
        for config in configs:
            typer.echo(describe(config))
        for error in errors:
            for line in str(error).splitlines():
                typer.echo(f"error  {line}", err=True)
        shown = display_path(directory)
        if not configs and not errors and not config_files(directory):
            typer.echo(f"no endpoint configs (*.yaml) in {shown}: nothing to validate", err=True)
            raise SystemExit(1)
        problems = sum(len(error.problems) for error in errors)
        if errors:
            typer.echo(
                f"{len(configs)} endpoint(s) ok, {len(errors)} file(s) with {problems} problem(s) in {shown}",
                err=True,
            )
            # SystemExit rather than typer.Exit: the entry point runs click with
            # standalone_mode=False, where click *returns* an Exit's code instead of
            # exiting with it, and a broken config must fail CI.
            raise SystemExit(1)
        typer.echo(f"{len(configs)} endpoint(s) ok in {shown}")
