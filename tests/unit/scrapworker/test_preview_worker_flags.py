"""`python -m scrapworker.preview`'s command line (typer): the command `lakehouse preview`
builds reaches the preview with its meaning; bad input exits 2 before Scrapy starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lakehouse.pipeline import preview as core_preview
from scrapworker import preview

pytestmark = pytest.mark.unit


def test_the_command_lakehouse_preview_builds_parses_to_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []
    monkeypatch.setattr(preview, "_run", lambda config, pages, profile: seen.append((config, pages, profile)) or 0)
    command = core_preview.worker_command(Path("config/endpoints/x.yaml"), 3, "local")
    module_at = command.index("scrapworker.preview")
    assert preview.main(command[module_at + 1 :]) == 0
    assert preview.main(["--config", "c.yaml"]) == 0
    assert seen == [(Path("config/endpoints/x.yaml"), 3, "local"), (Path("c.yaml"), 2, None)]


@pytest.mark.parametrize("argv", [[], ["--config", "c.yaml", "--pages", "two"], ["--config", "c.yaml", "--bogus"]])
def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    monkeypatch.setattr(preview, "_run", lambda *args: pytest.fail("ran"))
    assert preview.main(argv) == 2


def test_an_unreadable_config_is_a_json_error_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("{}"))
    assert preview.main(["--config", str(tmp_path / "missing.yaml")]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["pages"] == [] and "missing.yaml" in report["error"]
