"""`lakehouse tables | signals | freshness` (and `queue status`) against the shared
stack, at 80 columns: one endpoint fresh with a missing slot, one late.

Evaluated ``--now`` a fixed time so the slots are exact: both endpoints start on
NOW's day, so the window holds the 8 slots from midnight to 01:45.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import yaml
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.config.settings import Settings
from lakehouse.ops.operations import UnknownEndpointError
from lakehouse.queue.jobs import CrawlJob, JobResult, JobState, run_id_for
from lakehouse.tables.catalog import load_catalog
from lakehouse.tables.signals import Signal, publish

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 30, 2, 5, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 30, tzinfo=UTC)
SLOTS = [MIDNIGHT + timedelta(minutes=15 * i) for i in range(8)]  # 00:00 .. 01:45, all complete at NOW
GAP = SLOTS[4]  # 01:00
WIDTH = 80


def _endpoint(name: str) -> dict[str, object]:
    return {
        "name": name,
        "request": {"url": "http://127.0.0.1:18080/v1/offset"},
        "rate_limit": {"requests_per_second": 5},
        "schedule": "*/15 * * * *",
        "start_date": "2026-11-30",
        "response_map": {"records_path": "data.items"},
    }


@pytest.fixture(scope="module")
def operated(settings_module: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:6]
    names = {"fresh": f"ops_fresh_{suffix}", "late": f"ops_late_{suffix}", "ns": f"ops_{suffix}"}
    directory = tmp_path_factory.mktemp("ops-endpoints")
    for key in ("fresh", "late"):
        (directory / f"{names[key]}.yaml").write_text(yaml.safe_dump(_endpoint(names[key])))
    names["dir"] = str(directory)
    for slot in SLOTS:
        if slot != GAP:
            publish(
                settings_module,
                Signal(
                    run_id_for(names["fresh"], slot),
                    names["fresh"],
                    f"s3://warehouse/raw/{names['fresh']}/x",
                    slot,
                    pages=1,
                    records=10,
                ),
            )
    for slot in SLOTS[:4]:  # newest 00:45: over an hour behind at NOW
        publish(
            settings_module,
            Signal(run_id_for(names["late"], slot), names["late"], "s3://warehouse/raw/y", slot, pages=1, records=7),
        )
    # A partitioned table written in three commits over two partitions.
    catalog = load_catalog(settings_module)
    catalog.create_namespace_if_not_exists(names["ns"])
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import LongType, NestedField, StringType

    table = catalog.create_table(
        f"{names['ns']}.trades",
        schema=Schema(
            NestedField(1, "ds", StringType(), required=False), NestedField(2, "n", LongType(), required=False)
        ),
        partition_spec=PartitionSpec(PartitionField(1, 1000, IdentityTransform(), "ds")),
    )
    arrow = table.schema().as_arrow()
    for ds, n in (("2026-11-29", 3), ("2026-11-30", 4), ("2026-11-30", 5)):
        table.append(pa.Table.from_pylist([{"ds": ds, "n": i} for i in range(n)], schema=arrow))
    return names


@pytest.fixture(scope="module")
def settings_module(stack) -> Settings:
    from lakehouse.config.settings import load_settings

    return load_settings()


@pytest.fixture()
def cli(operated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    monkeypatch.setenv("LAKEHOUSE_ENDPOINTS_DIR", operated["dir"])
    monkeypatch.setenv("COLUMNS", str(WIDTH))

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return run


def _readable(out: str, *whole: str) -> None:
    """No line wider than the terminal, and each value on one line (not folded)."""
    lines = out.splitlines()
    too_wide = [line for line in lines if len(line) > WIDTH]
    assert not too_wide, f"lines over {WIDTH} columns:\n" + "\n".join(too_wide)
    for value in whole:
        assert any(value in line for line in lines), f"{value!r} is not whole on any line of:\n{out}"


def test_tables_lists_rows_partitions_snapshots_size_last_write(cli, operated) -> None:
    code, out = cli("tables", "--namespace", operated["ns"])
    assert code == 0, out
    _readable(out, f"{operated['ns']}.trades")
    row = next(line for line in out.splitlines() if f"{operated['ns']}.trades" in line).split()
    assert row[1:4] == ["12", "2", "1"], row  # rows, partitions, snapshots Nessie serves

    code, out = cli("tables", "--namespace", operated["ns"], "--json")
    [info] = json.loads(out)
    assert (info["identifier"], info["rows"], info["partitions"], info["data_files"]) == (
        f"{operated['ns']}.trades",
        12,
        2,
        3,
    )
    assert info["size_bytes"] > 0 and info["last_operation"] == "append"
    assert abs(datetime.fromisoformat(info["last_write"]) - datetime.now(UTC)) < timedelta(minutes=10)


def test_signals_show_latest_slots_lag_and_the_missing_slot(cli, operated) -> None:
    fresh, late = operated["fresh"], operated["late"]
    code, out = cli("signals", "--now", NOW.isoformat())
    assert code == 0, out
    _readable(out, fresh, late, "2026-11-30 01:45", run_id_for(fresh, SLOTS[-1]))
    assert "missing 1 of 8 slots since 2026-11-30 00:00: 11-30 01:00" in out
    assert "missing 4 of 8 slots" in out

    code, out = cli("signals", fresh, "--now", NOW.isoformat(), "--json")
    [status] = json.loads(out)
    assert status["endpoint"] == fresh and status["late"] is False
    assert status["newest_slot_start"] == SLOTS[-1].isoformat()
    assert status["lag_seconds"] == 300.0 and status["slots_behind"] == 0
    assert status["missing"] == [GAP.isoformat()]
    assert [s["slot_start"] for s in status["latest"]] == [s.isoformat() for s in (SLOTS[7], SLOTS[6], SLOTS[5])]

    with pytest.raises(UnknownEndpointError, match="no endpoint named 'no_such_endpoint'"):
        cli("signals", "no_such_endpoint")


def test_freshness_exits_non_zero_and_names_the_late_endpoint(cli, operated) -> None:
    fresh, late = operated["fresh"], operated["late"]
    code, out = cli("freshness", "--now", NOW.isoformat())
    assert code == 1, out
    _readable(out, fresh, late)
    assert f"1 of 2 endpoint(s) late: {late}" in out
    assert "LATE" in next(line for line in out.splitlines() if late in line)

    code, out = cli("freshness", "--now", NOW.isoformat(), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["late"] == [late]
    by_name = {e["endpoint"]: e for e in report["endpoints"]}
    assert by_name[late]["lag_seconds"] == 65 * 60 and by_name[late]["slots_behind"] == 4
    assert by_name[late]["late_after"] == datetime(2026, 11, 30, 1, 25, tzinfo=UTC).isoformat()
    assert by_name[fresh]["missing_slots"] == 1

    # The fresh endpoint alone passes; at 02:26 (past 02:15 + the 10 min grace) it is late too.
    assert cli("freshness", fresh, "--now", NOW.isoformat())[0] == 0
    assert cli("freshness", fresh, "--now", "2026-11-30T02:26:00Z")[0] == 1


@pytest.fixture()
def queue_env(redis_settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    prefix = f"q{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LAKEHOUSE_QUEUE__PREFIX", prefix)
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    yield
    client = redis_settings.redis.client()
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_queue_status_reads_at_80_columns(queue_env, make_job: Callable[..., CrawlJob]) -> None:
    from lakehouse.config.settings import load_settings
    from lakehouse.queue.crawl_queue import open_queue

    queue = open_queue(load_settings())
    done, failed = make_job(minute=0), make_job(minute=15, max_attempts=1)
    for job in (done, failed):
        queue.enqueue(job)
    lease = queue.lease("w-80")
    queue.ack(
        lease, JobResult(state=JobState.FINISHED, pages=2, records=20, bytes=200, manifest_path=done.manifest_key)
    )
    lease = queue.lease("w-80")
    queue.ack(lease, JobResult(state=JobState.FAILED, error="upstream answered 500 three times in a row"))

    result = CliRunner().invoke(app, ["queue", "status"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    _readable(result.output, done.run_id, failed.run_id, "finished", "dead letters")
    # The details are text lines: a manifest key longer than the terminal wraps, whole.
    assert done.manifest_key in result.output.replace("\n", "") and "three times in a row" in result.output
