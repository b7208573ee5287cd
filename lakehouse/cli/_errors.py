"""Turn named errors into one clear message and a non-zero exit, without a traceback."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from rich.console import Console


def run(app: typer.Typer) -> None:
    try:
        # Without standalone mode click *returns* a `typer.Exit` code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except LakehouseError as exc:
        _stderr().print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _stderr().print("aborted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors come through here in non-standalone mode
        if isinstance(exc, _click_exceptions()):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        raise


def exit_code(app: typer.Typer, argv: list[str] | None = None, prog_name: str | None = None) -> int:
    """Run one of the ``python -m`` entry points and return its exit code instead of
    exiting, so its ``main(argv)`` stays callable from tests. Usage errors print
    click's message and give its code (2, as argparse did); ``--help`` gives 0."""
    try:
        code = app(args=argv, prog_name=prog_name, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _stderr().print("aborted")
        return 130
    except Exception as exc:
        if isinstance(exc, _click_exceptions()):
            exc.show()  # type: ignore[attr-defined]
            return int(exc.exit_code)  # type: ignore[attr-defined]
        raise
    return code if isinstance(code, int) else 0


def _stderr() -> Console:
    from rich.console import Console  # only when there is an error to print: start-up time

    return Console(stderr=True)


def _click_exceptions() -> tuple[type[Exception], ...]:
    """ClickException of the click typer runs on: typer 0.29 vendors its own
    (``typer._click``), older typers use the click package."""
    found: list[type[Exception]] = []
    try:
        from typer._click.exceptions import ClickException as Vendored

        found.append(Vendored)
    except ImportError:
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)
