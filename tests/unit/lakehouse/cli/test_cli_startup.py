"""`lakehouse --help` and `lakehouse --version` import no command's dependencies: a
command's module (and its settings, Redis, boto3, pyiceberg, local-stack imports) is
imported only when that command runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

HEAVY = (
    "redis",
    "pyiceberg",
    "pydantic_settings",
    "boto3",
    "botocore",
    "pyarrow",
    "duckdb",
    "yaml",
    "requests",
    "psutil",
    "scrapy",
    "pyspark",
    "airflow",
    "lakehouse.queue.crawl_queue",
    "lakehouse.config.settings",
    "lakehouse.local",
    "lakehouse.tables.catalog",
    "lakehouse.endpoints",
    "scrapworker",
    "spark_jobs",
    "lakehouse_airflow",
)

CHILD = """
import json, sys
sys.argv = ["lakehouse", *json.loads(sys.argv[1])]
from lakehouse.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print("\\n@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_cli(*args: str) -> tuple[int, str, set[str]]:
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, timeout=60)
    text, _, tail = out.stdout.rpartition("\n@@")
    assert tail, out.stderr
    result = json.loads(tail)
    return result["code"], text, set(result["modules"])


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [("--version",), ("--help",), ()])
def test_version_and_help_import_no_command_dependencies(args: tuple[str, ...]) -> None:
    code, text, modules = run_cli(*args)
    assert code in (0, None, 2)  # `lakehouse` alone prints the help
    assert "lakehouse 0.1.0" in text if args == ("--version",) else "Commands" in text
    assert heavy_in(modules) == []
    assert not [m for m in modules if m.startswith("lakehouse.cli.") and m != "lakehouse.cli._errors"]


def test_a_command_imports_only_its_own_module() -> None:
    code, text, modules = run_cli("validate", "--help")
    assert code in (0, None)
    assert "lakehouse.cli.commands.validate" in modules
    assert (
        not {
            "lakehouse.cli.commands.queue",
            "lakehouse.cli.commands.local",
            "lakehouse.cli.commands.demo",
            "lakehouse.queue.crawl_queue",
            "redis",
        }
        & modules
    )


def test_the_help_listing_matches_each_commands_own_help() -> None:
    from lakehouse.cli import COMMANDS, load_command

    for name, (_, listed) in COMMANDS.items():
        assert load_command(name).help.strip() == listed, name


def test_every_command_runs_through_the_lazy_group() -> None:
    from typer.testing import CliRunner

    from lakehouse.cli import COMMANDS, app

    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage: lakehouse" in result.output


def test_the_installed_lakehouse_command_prints_its_version() -> None:
    """The console script of pyproject's entry point (lakehouse.cli:main) still resolves
    after the core's modules moved; how fast it starts is measured, not asserted."""
    from pathlib import Path

    script = Path(sys.executable).with_name("lakehouse")
    assert script.exists(), f"no console script at {script}: run ./init.sh"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "lakehouse 0.1.0"
