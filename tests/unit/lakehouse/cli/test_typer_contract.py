"""What the entry points rely on from typer, through its public API only: usage errors
are ``typer.TyperException`` with click's exit code 2 (lakehouse/cli/_errors.py), and
``ctx.fail`` raises one (the lazy group's suggestions). An upgrade that breaks either
fails here, naming the installed and the pinned typer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from lakehouse.cli._errors import exit_code
from lakehouse.config.paths import PROJECT_ROOT
from lakehouse.engines.private_api import installed_version, pinned_version

pytestmark = pytest.mark.unit

UPGRADE = (
    f"typer {installed_version('typer')} broke the public error API lakehouse/cli/_errors.py uses "
    f"(written against typer=={pinned_version('typer')}, requirements.lock)"
)

app = typer.Typer(add_completion=False)


@app.command()
def _count(ctx: typer.Context, n: int = typer.Option(1), odd: bool = typer.Option(False, "--odd")) -> int:
    if odd and n % 2 == 0:
        ctx.fail(f"--n {n} is even")
    return n


@pytest.mark.parametrize(
    "argv", [["--n", "x"], ["--no-such-flag"], ["--odd", "--n", "2"]], ids=["bad value", "unknown flag", "ctx.fail"]
)
def test_usage_errors_are_public_typer_exceptions_with_exit_code_2(argv: list[str]) -> None:
    with pytest.raises(Exception) as raised:
        get_command(app).main(args=argv, standalone_mode=False)
    assert isinstance(raised.value, typer.TyperException), f"{UPGRADE}: {type(raised.value).__mro__}"
    assert raised.value.exit_code == 2, UPGRADE
    assert callable(getattr(raised.value, "show", None)), f"{UPGRADE}: no show()"


def test_exit_code_returns_the_commands_code_and_2_with_clicks_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(app, ["--n", "3"], prog_name="count") == 3
    assert exit_code(app, ["--help"], prog_name="count") == 0
    assert exit_code(app, ["--odd", "--n", "4"], prog_name="count") == 2
    err = capsys.readouterr().err
    assert "Usage: count [OPTIONS]" in err
    assert "Error: --n 4 is even" in err


def test_a_typo_of_a_lazy_command_suggests_it_once() -> None:
    from lakehouse.cli import app as lakehouse

    result = CliRunner().invoke(lakehouse, ["tabels"])
    assert result.exit_code == 2
    assert result.output.count("Did you mean 'tables'?") == 1, result.output
    assert "No such command 'tabels'" in result.output
    result = CliRunner().invoke(lakehouse, ["zzzz"])
    assert result.exit_code == 2 and "Did you mean" not in result.output


def test_no_entry_point_imports_typers_private_click() -> None:
    # typer._click is typer's vendored click, private by typer's own docs.
    pattern = re.compile(r"^\s*(from|import)\s+typer\._click|typer\._click\.", re.MULTILINE)
    found = [
        str(path.relative_to(PROJECT_ROOT))
        for top in ("lakehouse", "lakehouse_airflow", "scrapworker", "spark_jobs", "benchmarks")
        for path in Path(PROJECT_ROOT, top).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert found == []
