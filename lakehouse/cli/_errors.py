"""Turn named errors into one clear message and a non-zero exit, without a traceback.

Usage errors are caught as ``typer.TyperException``: the public base (typer >= 0.27.2,
fastapi/typer#1942) of every error typer's vendored click raises. The click classes
themselves live in the private ``typer._click``, which typer's own docs tell users not
to import, and the pip ``click`` package is not the click typer runs, so neither is
named here. tests/unit/lakehouse/cli/test_typer_contract.py holds typer to this.
"""

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
    except typer.TyperException as exc:  # click's usage errors come here in non-standalone mode
        sys.exit(_show(exc))


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
    except typer.TyperException as exc:
        return _show(exc)
    return code if isinstance(code, int) else 0


def _stderr() -> Console:
    from rich.console import Console  # only when there is an error to print: start-up time

    return Console(stderr=True)


def _show(exc: typer.TyperException) -> int:
    """Print a usage error as click would in standalone mode; return its exit code (2 for
    usage errors, as argparse gave)."""
    # Every exception typer raises has click's show() (usage, hint and message); the
    # public base promises only the message.
    show = getattr(exc, "show", None)
    if callable(show):
        show()
    else:
        typer.echo(f"Error: {exc.format_message()}", err=True)
    return int(exc.exit_code)
