"""The `lakehouse` command. Each command group lives in its own module and
registers itself on `app`; this file only assembles them."""

from __future__ import annotations

import typer

from lakehouse.cli import _errors

app = typer.Typer(
    name="lakehouse",
    help="Batch ingestion from rate-limited HTTP/JSON APIs into Apache Iceberg.",
    no_args_is_help=True,
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


# Command groups (one module each; keep this list in the order `--help` shows them).
from lakehouse.cli import artifacts, catalog_cmd, demo, local, settings_cmd  # noqa: E402

demo.register(app)
local.register(app)
catalog_cmd.register(app)
artifacts.register(app)
settings_cmd.register(app)
from lakehouse.cli import validate; validate.register(app)  # noqa: E402, E702
from lakehouse.cli import queue; queue.register(app)  # noqa: E402, E702
from lakehouse.cli import crawl; crawl.register(app)  # noqa: E402, E702


def main() -> None:
    _errors.run(app)
