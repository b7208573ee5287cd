"""`lakehouse tables`: every Iceberg table with rows, partitions, snapshots, size and
last write, from catalog metadata (no data file is read)."""

from __future__ import annotations

import json

import typer

from lakehouse.cli import _ops_format as fmt

_PROFILE = typer.Option(None, "--profile", "-p", help="Settings profile (default: $LAKEHOUSE_PROFILE or local).")


def register(app: typer.Typer) -> None:
    @app.command("tables")
    def tables(
        namespace: list[str] = typer.Option([], "--namespace", "-n", help="Only these namespaces. Repeatable."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per table)."),
        profile: str = _PROFILE,
    ) -> None:
        """Each table: rows, partitions, snapshots, size, last write (from Iceberg metadata)."""
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.config.settings import load_settings
        from lakehouse.ops.operations import table_overviews

        found = table_overviews(load_settings(profile), namespace or None)
        if as_json:
            typer.echo(json.dumps([t.to_dict() for t in found], indent=2))
            return
        out = fmt.table(f"{len(found)} tables (from Iceberg metadata)")
        out.add_column("table", overflow="fold", min_width=16)
        for column in ("rows", "parts", "snaps", "size"):
            out.add_column(column, justify="right", no_wrap=True)
        out.add_column("last write (UTC)", no_wrap=True)
        for t in found:
            if t.error:
                out.add_row(t.identifier, "[red]error[/]", "", "", "", t.error[:40])
                continue
            out.add_row(
                t.identifier,
                fmt.count(t.rows),
                fmt.count(t.partitions),
                str(t.snapshots),
                fmt.size(t.size_bytes),
                fmt.when(t.last_write),
            )
        fmt.console().print(out)
