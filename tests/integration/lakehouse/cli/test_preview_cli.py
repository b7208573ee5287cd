"""`lakehouse preview` against the sandbox on the shared stack: every pagination style
prints its requests, records and next page at 80 columns, sends no more requests than
asked (the sandbox's own counter), lands nothing, and `--write` turns a config without
columns into one that validates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scrapworker"))

from worker_fixtures import endpoints, make_sandbox  # noqa: E402
from worker_harness import ROUTES, SLOT, TOKEN  # noqa: E402

from lakehouse.cli import app  # noqa: E402
from lakehouse.endpoints import load_endpoint  # noqa: E402

pytestmark = pytest.mark.integration

__all__ = ["endpoints", "make_sandbox"]

WIDTH = 80
RECORDS_PER_SLOT = 450  # 5 pages of 100: every paged style has a next page after 2
SLOT_ARG = SLOT.strftime("%Y-%m-%dT%H:%M")


@pytest.fixture()
def cli_env(stack: Any, endpoints: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_ENDPOINTS_DIR", str(endpoints.directory))
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setenv("SANDBOX_TOKEN", TOKEN)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _raw_keys(settings: Any, name: str) -> list[str]:
    from lakehouse.raw.storage import s3_client

    listing = s3_client(settings.s3).list_objects_v2(
        Bucket=settings.s3.bucket, Prefix=f"{settings.s3.raw_prefix.strip('/')}/{name}/"
    )
    return [o["Key"] for o in listing.get("Contents", [])]


@pytest.mark.parametrize("style", list(ROUTES))
def test_preview_each_style_shows_pages_and_next_and_sends_only_what_was_asked(
    style: str, settings: Any, make_sandbox: Any, endpoints: Any, cli_env: None
) -> None:
    sandbox = make_sandbox(records_per_slot=RECORDS_PER_SLOT)
    name = f"pv_{style}"
    endpoints.write(name, sandbox.url, style)
    expected = sandbox.expected()
    paged = style != "none"

    code, out = _cli("preview", name, "--pages", "2", "--slot", SLOT_ARG)
    assert code == 0, out
    lines = out.splitlines()
    assert not [line for line in lines if len(line) > WIDTH], out
    asked = 2 if paged else 1
    # Only the pages asked for left the worker; the next one is shown, not fetched.
    assert sandbox.server.stats().total_requests == asked, out
    assert out.count("HTTP 200") == asked, out
    per_page = 100 if paged else len(expected)
    assert f"HTTP 200  {per_page} records" in out, out
    nexts = [line.strip() for line in lines if line.strip().startswith("next ")]
    assert len(nexts) == asked, out
    if paged:
        assert all("none:" not in n for n in nexts), out
        if style == "offset":
            assert nexts == ["next ?offset=100", "next ?offset=200"], out
    else:
        assert "none: the crawl would end here" in nexts[0], out
    assert TOKEN not in out
    # The sample is the slot's first records; the columns are the sandbox's fields.
    assert f'"id": {expected[0]["id"]}' in out, out
    for column in ("price", "venue_code", "is_buyer_maker"):
        assert any(line.strip().startswith(column + " ") for line in lines), out
    assert _raw_keys(settings, name) == []

    code, out = _cli("preview", name, "--pages", "2", "--slot", SLOT_ARG, "--json")
    assert code == 0, out
    report = json.loads(out)
    assert [r["status"] for r in report["requests"]] == [200] * asked
    assert report["records"] == (asked * 100 if paged else len(expected))
    columns = {c["name"]: c for c in report["columns"]}
    assert columns["time"]["type"] == "timestamp" and columns["time"]["format"] == "epoch_ms"
    assert columns["is_buyer_maker"]["type"] == "boolean"
    assert columns["price"]["type"].startswith("decimal(")
    assert columns["venue_code"]["path"] == "venue.code"
    assert all(f["share"] == 1.0 for f in columns["id"]["fits"] if f["type"] == "long")
    assert sandbox.server.stats().total_requests == 2 * asked


def test_preview_lists_list_paths_when_records_path_finds_nothing(
    make_sandbox: Any, endpoints: Any, cli_env: None
) -> None:
    sandbox = make_sandbox(records_per_slot=RECORDS_PER_SLOT)
    config = endpoints.write("pv_wrong_path", sandbox.url, "offset")
    doc = yaml.safe_load((endpoints.directory / "pv_wrong_path.yaml").read_text())
    doc["response_map"]["records_path"] = "data.trades"  # the sandbox sends data.items
    (endpoints.directory / "pv_wrong_path.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert config.name == "pv_wrong_path"

    code, out = _cli("preview", "pv_wrong_path", "--slot", SLOT_ARG)
    assert code == 0, out
    assert "no records at records_path 'data.trades'" in out, out
    assert "data.items  100 items" in out, out
    assert sandbox.server.stats().total_requests == 1  # an empty page ends the crawl


def test_preview_write_adds_columns_that_validate_and_keeps_comments(
    make_sandbox: Any, endpoints: Any, cli_env: None
) -> None:
    sandbox = make_sandbox(records_per_slot=RECORDS_PER_SLOT)
    endpoints.write("pv_write", sandbox.url, "page")
    path: Path = endpoints.directory / "pv_write.yaml"
    original = "# Written by hand: keep this line.\n" + path.read_text()
    path.write_text(original)
    assert load_endpoint(path).table is None

    code, out = _cli("preview", str(path), "--write", "--namespace", "market", "--slot", SLOT_ARG)
    assert code == 0, out
    assert "wrote" in out and "column(s) added" in out, out
    text = path.read_text()
    assert text.startswith(original), text  # comment, keys and order untouched; table appended
    config = load_endpoint(path)
    assert config.table is not None and config.table.identifier == "market.pv_write"
    declared = {c.name: c for c in config.table.columns}
    assert declared["time"].type == "timestamp" and declared["time"].format == "epoch_ms"
    assert declared["venue_region"].path == "venue.region"
    code, out = _cli("validate", "--live", "off")
    assert code == 0, out

    # A second --write completes nothing: every path is declared already.
    code, out = _cli("preview", str(path), "--write", "--slot", SLOT_ARG, "--json")
    assert code == 0, out
    assert json.loads(out)["written"]["added"] == []
    assert path.read_text() == text


def test_preview_without_the_credential_names_the_variable_and_sends_nothing(
    make_sandbox: Any, endpoints: Any, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox(records_per_slot=RECORDS_PER_SLOT)
    endpoints.write("pv_no_token", sandbox.url, "cursor")
    monkeypatch.delenv("SANDBOX_TOKEN")

    code, out = _cli("preview", "pv_no_token", "--slot", SLOT_ARG)
    assert code == 1, out
    assert "SANDBOX_TOKEN" in out, out
    assert sandbox.server.stats().total_requests == 0
