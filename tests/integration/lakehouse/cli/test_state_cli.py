"""`lakehouse state <endpoint>` and `--reset` on the shared stack's S3, at 80 columns:
the marks come from the landings' manifests, and a reset moves only the next new
slot's start (recorded slots keep theirs)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.config.settings import Settings, load_settings
from lakehouse.endpoints import load_endpoint
from lakehouse.pipeline.steps import plan_cursor
from lakehouse.queue.jobs import run_id_for
from lakehouse.raw.layout import CursorRange, Manifest, ManifestPage, page_key, run_prefix
from lakehouse.raw.storage import ensure_bucket, s3_client

pytestmark = pytest.mark.integration

WIDTH = 80
SLOTS = [datetime(2026, 11, 29, 23, 45, tzinfo=UTC) + timedelta(minutes=15 * i) for i in range(3)]
MARKS = ["2026-01-01T00:00:00.000Z", "2026-11-29T23:59:58.123Z", "2026-11-30T00:14:59.001Z", "2026-11-30T00:29:07.400Z"]


def _land(settings: Settings, name: str, slot: datetime, start: str, end: str, records: int) -> None:
    """A landing as the worker writes it (pages + manifest with the range)."""
    client = s3_client(settings.s3)
    run_id = run_id_for(name, slot)
    prefix = run_prefix(settings.s3.raw_prefix, name, slot, run_id)
    body = json.dumps({"data": [{"id": i} for i in range(records)]}).encode()
    key = page_key(prefix, 1, 1)
    client.put_object(Bucket=settings.s3.bucket, Key=key, Body=body)
    page = ManifestPage(
        index=1,
        key=key,
        url="http://127.0.0.1:1/v1/updates",
        status_code=200,
        records=records,
        bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        fetched_at=slot,
        elapsed_seconds=0.01,
    )
    manifest = Manifest.build(
        run_id=run_id,
        endpoint=name,
        slot_start=slot,
        slot_end=slot + timedelta(minutes=15),
        prefix=prefix,
        pages=[page],
        started_at=slot,
        finished_at=datetime.now(UTC),
        incremental=CursorRange(param="updated_since", start=start, end=end),
        attempt=1,
    )
    client.put_object(Bucket=settings.s3.bucket, Key=manifest.key, Body=manifest.to_json_bytes())


@pytest.fixture()
def landed(stack, tmp_path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    settings = load_settings()
    ensure_bucket(settings.s3)
    name = f"state_{uuid.uuid4().hex[:8]}"
    doc = {
        "name": name,
        "request": {"url": "http://127.0.0.1:1/v1/updates"},
        "rate_limit": {"requests_per_second": 5},
        "schedule": "*/15 * * * *",
        "response_map": {"records_path": "data"},
        "incremental": {"cursor_path": "updated_at", "param": "updated_since", "initial_value": MARKS[0]},
    }
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    for i, slot in enumerate(SLOTS):
        _land(settings, name, slot, MARKS[i], MARKS[i + 1], records=10 + i)
    monkeypatch.setenv("LAKEHOUSE_ENDPOINTS_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    return {"name": name, "config": load_endpoint(tmp_path / f"{name}.yaml"), "settings": settings}


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _readable(out: str, *whole: str) -> None:
    lines = out.splitlines()
    assert not [line for line in lines if len(line) > WIDTH], out
    for value in whole:
        assert any(value in line for line in lines), f"{value!r} not whole on one line:\n{out}"


def test_state_shows_each_slots_range_and_the_next_start(landed: dict[str, object]) -> None:
    name = str(landed["name"])
    code, out = _cli("state", name)
    assert code == 0, out
    _readable(out, name, *MARKS, f"next new slot asks from {MARKS[3]}")
    lines = out.splitlines()
    newest = next(i for i, line in enumerate(lines) if "11-30 00:15" in line)
    oldest = next(i for i, line in enumerate(lines) if "11-29 23:45" in line)
    assert newest < oldest and "12" in lines[newest]

    code, out = _cli("state", name, "--json", "--latest", "2")
    state = json.loads(out)
    assert (state["next_start"], state["next_source"]) == (MARKS[3], "previous")
    assert [(r["start"], r["end"], r["records"]) for r in state["latest"]] == [
        (MARKS[2], MARKS[3], 12),
        (MARKS[1], MARKS[2], 11),
    ]


def test_reset_moves_the_next_new_slot_only(landed: dict[str, object]) -> None:
    name, config, settings = str(landed["name"]), landed["config"], landed["settings"]
    code, out = _cli("state", name, "--reset", "--to", "2026-11-15T00:00:00.000Z", "--yes")
    assert code == 0, out
    _readable(out, "next new slot asks from 2026-11-15T00:00:00.000Z (a reset)")
    after = SLOTS[-1] + timedelta(minutes=15)
    assert plan_cursor(settings, config, after).start == "2026-11-15T00:00:00.000Z"  # type: ignore[arg-type,union-attr]
    # A rerun of a recorded slot keeps its own range.
    recorded = plan_cursor(settings, config, SLOTS[1])  # type: ignore[arg-type]
    assert recorded is not None and (recorded.start, recorded.source) == (MARKS[1], "recorded")

    code, out = _cli("state", name, "--reset", "--json")  # back to initial_value
    assert code == 0 and json.loads(out)["next_start"] == MARKS[0]
    # Once a slot lands after the reset, its mark wins again.
    _land(settings, name, after, MARKS[0], "2026-11-30T00:44:00.000Z", records=3)  # type: ignore[arg-type]
    assert json.loads(_cli("state", name, "--json")[1])["next_source"] == "previous"

    code, out = _cli("state", name, "--to", "x")
    assert code != 0 and "--reset" in out
