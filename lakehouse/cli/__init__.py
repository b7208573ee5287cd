"""The `lakehouse` command. Each command (or command group) lives in its own module
and registers itself with ``register(app)``; this file only names them.

Command modules are imported when their command runs, not when the CLI starts:
`lakehouse --help` and `lakehouse --version` import no settings, Redis, boto3,
pyiceberg or local-stack code (tests/unit/lakehouse/cli/test_cli_startup.py). The
help listing comes from ``COMMANDS`` below; a test checks it against each module's
own help text.
"""

from __future__ import annotations

import importlib
from difflib import get_close_matches
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from lakehouse.cli import _errors

# name -> (module with a ``register(app)`` function, its help text); in `--help` order.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "lakehouse.cli.commands.demo",
        "Ingest the sandbox API's recent slots through Airflow on the local stack, then summarise.",
    ),
    "settings": (
        "lakehouse.cli.commands.settings_cmd",
        "Show the resolved settings (profile + environment); secrets are masked.",
    ),
    "validate": (
        "lakehouse.cli.commands.validate",
        "Check every endpoint config; print each problem with its file and field path. Exits 1 on any error.",
    ),
    "preview": (
        "lakehouse.cli.commands.preview",
        "Fetch an endpoint's first pages live (nothing lands); show records and the columns to declare.",
    ),
    "schema": (
        "lakehouse.cli.commands.schema_cmd",
        "Write the JSON Schema of endpoint YAML files (editors complete and check fields with it).",
    ),
    "crawl": (
        "lakehouse.cli.commands.crawl",
        "Enqueue one slot's crawl job for a worker (`python -m scrapworker`); --wait follows it.",
    ),
    "local": ("lakehouse.cli.commands.local", "Run the embedded stack (Redis, S3 server, Nessie) on 127.0.0.1."),
    "catalog": ("lakehouse.cli.commands.catalog_cmd", "The Iceberg catalog (Nessie REST)."),
    "artifacts": (
        "lakehouse.cli.commands.artifacts",
        "The pinned jars (Nessie runner, Iceberg for Spark) and the optional Trino server, from Maven Central.",
    ),
    "queue": ("lakehouse.cli.commands.queue", "The crawl job queue in Redis: counts, dead letters, retries."),
    "tables": (
        "lakehouse.cli.commands.tables",
        "Each table: rows, partitions, snapshots, size, last write (from Iceberg metadata).",
    ),
    "signals": (
        "lakehouse.cli.commands.signals_cmd",
        "Latest slots, lag behind the schedule, missing slots in a window.",
    ),
    "state": (
        "lakehouse.cli.commands.state_cmd",
        "An incremental endpoint's cursor marks (from its manifests); --reset moves the next start.",
    ),
    "freshness": (
        "lakehouse.cli.commands.freshness",
        "Each endpoint's newest landed slot and lag; exits 1 when any endpoint is late.",
    ),
}


def load_command(name: str) -> Any:  # -> click.Command (typer's vendored click)
    """Import the command's module and build its command, as `register(app)` defines it."""
    module = importlib.import_module(COMMANDS[name][0])
    holder = typer.Typer()
    module.register(holder)
    return typer.main.get_group(holder).commands[name]


class LazyCommandGroup(TyperGroup):
    """A group that imports a command's module only when that command is resolved; the
    help listing shows stand-ins carrying the same help text."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if self._listing:
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])
        command = load_command(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # Typer's own suggestions see only the commands already loaded, so they are off
        # (suggest_commands=False below) and the lazy ones are suggested here. Failing
        # through ctx.fail, click's public way to raise its usage error, keeps this off
        # typer's private click module (lakehouse/cli/_errors.py says why).
        name = args[0] if args else ""
        if name and not name.startswith("-") and not ctx.resilient_parsing and self.get_command(ctx, name) is None:
            matches = get_close_matches(name, self.list_commands(ctx))
            if matches:
                ctx.fail(f"No such command {name!r}. Did you mean {', '.join(repr(m) for m in matches)}?")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="lakehouse",
    cls=LazyCommandGroup,
    help="Batch ingestion from rate-limited HTTP/JSON APIs into Apache Iceberg.",
    no_args_is_help=True,
    suggest_commands=False,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from lakehouse import __version__

        typer.echo(f"lakehouse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Batch ingestion from rate-limited HTTP/JSON APIs into Apache Iceberg."""


def main() -> None:
    _errors.run(app)
