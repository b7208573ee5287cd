"""`lakehouse artifacts fetch | list`: the pinned jars, downloaded and verified."""

from __future__ import annotations

import functools

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TransferSpeedColumn
from rich.table import Table

from lakehouse.engines import artifacts as arts

console = Console()


def _report(progress: Progress, task: TaskID, done: int, total: int) -> None:
    progress.update(task, completed=done)


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="The pinned jars (Nessie runner, Iceberg for Spark) and the optional Trino server, from Maven Central.",
        no_args_is_help=True,
    )
    app.add_typer(group, name="artifacts")

    @group.command("fetch")
    def fetch(
        only: list[str] = typer.Argument(None, help="Keys to fetch (default: all but the optional ones)."),
    ) -> None:
        """Download missing jars into the cache and verify their sha256. Idempotent."""
        keys = only or list(arts.DEFAULT_KEYS)
        fetched, present = [], []
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        ) as progress:
            for key in keys:
                if key not in arts.ARTIFACTS:
                    raise typer.BadParameter(f"unknown artifact {key!r}; known: {', '.join(arts.ARTIFACTS)}")
                art = arts.ARTIFACTS[key]
                task = progress.add_task(art.filename, total=art.size)
                if arts.fetch(key, functools.partial(_report, progress, task)):
                    fetched.append(key)
                else:
                    present.append(key)
                progress.update(task, completed=art.size)
        console.print(
            f"artifacts in {arts.jars_dir()}: fetched {', '.join(fetched) or 'none'}; "
            f"already present and verified {', '.join(present) or 'none'}"
        )

    @group.command("list")
    def list_(
        check: bool = typer.Option(False, "--check", help="Exit 1 when any non-optional one is missing."),
    ) -> None:
        """Show each pinned jar and whether it is present and verified."""
        table = Table(title=f"pinned jars ({arts.jars_dir()})")
        for col in ("key", "maven coordinate", "state"):
            table.add_column(col)
        missing = 0
        for key, art in arts.ARTIFACTS.items():
            ok = arts.is_verified(key)
            missing += not ok and not art.optional
            state = "[green]verified[/]" if ok else "optional, not fetched" if art.optional else "[red]missing[/]"
            table.add_row(key, art.coordinate, state)
        console.print(table)
        if check and missing:
            raise typer.Exit(1)
