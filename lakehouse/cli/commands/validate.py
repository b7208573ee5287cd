"""`lakehouse validate`: check every endpoint config before a DAG or a crawl uses it,
and each declared table against its live table in the catalog (lakehouse.tables.live_tables)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lakehouse.config import paths
from lakehouse.endpoints import EndpointConfig, endpoint_path, validate_all
from lakehouse.endpoints.loader import config_files, display_path


class Live(StrEnum):
    auto = "auto"
    require = "require"
    off = "off"


def describe(config: EndpointConfig) -> str:
    # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
    from lakehouse.ops.sla import format_duration

    rate = config.rate_limit.describe()
    if config.rate_limit_key != config.name:
        rate += f" shared as {config.rate_limit_key!r}"
    table = f"  table {config.table.identifier}" if config.table else ""
    if config.table and config.table.write == "merge":
        table += f" (merge on {', '.join(config.table.primary_key)})"
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
        live: Annotated[
            Live,
            typer.Option(
                "--live",
                help="Check declared tables against the live catalog: auto (a warning when it cannot be "
                "reached), require (an error then), off (skip).",
            ),
        ] = Live.auto,
    ) -> None:
        """Check every endpoint config; print each problem with its file and field path. Exits 1 on any error."""
        directory = directory or paths.endpoints_dir()
        configs, errors = validate_all(directory)
        for config in configs:
            typer.echo(describe(config))
        unchecked: list[str] = []
        if live is not Live.off and configs:
            from lakehouse.config.settings import load_settings
            from lakehouse.tables.live_tables import check_live_tables

            report = check_live_tables([(endpoint_path(c.name, directory), c) for c in configs], load_settings())
            for line in report.lines:
                typer.echo(f"live  {line}")
            errors += report.errors
            unchecked = report.unchecked
        level = "error" if live is Live.require else "warning"
        for reason in unchecked:
            typer.echo(f"{level}  live tables not checked: {reason}", err=True)
        if unchecked:
            typer.echo(
                f"{level}  schema changes were not checked against the catalog; the transform still refuses "
                "an incompatible one before writing. Start the stack or point LAKEHOUSE_CATALOG__URI at it, "
                "or pass --live off to skip this check on purpose.",
                err=True,
            )
        for error in errors:
            for line in str(error).splitlines():
                typer.echo(f"error  {line}", err=True)
        shown = display_path(directory)
        if not configs and not errors and not config_files(directory):
            typer.echo(f"no endpoint configs (*.yaml) in {shown}: nothing to validate", err=True)
            raise SystemExit(1)
        problems = sum(len(error.problems) for error in errors)
        refused = {e.file for e in errors}
        ok = sum(display_path(endpoint_path(c.name, directory)) not in refused for c in configs)
        if errors or (unchecked and live is Live.require):
            summary = f"{ok} endpoint(s) ok, {len(errors)} file(s) with {problems} problem(s) in {shown}"
            if unchecked:
                summary += "; live tables not checked" + (" (--live require)" if live is Live.require else "")
            typer.echo(summary, err=True)
            # SystemExit rather than typer.Exit: the entry point runs click with
            # standalone_mode=False, where click *returns* an Exit's code instead of
            # exiting with it, and a broken config must fail CI.
            raise SystemExit(1)
        typer.echo(f"{ok} endpoint(s) ok in {shown}" + ("; live tables not checked" if unchecked else ""))
