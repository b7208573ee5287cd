"""Bad input, names and paths: '../', absolute paths, unicode look-alikes, over-long
names and trailing newlines, in endpoint names, table names, raw prefixes, run ids
and CLI arguments. Each is refused with an error naming what is wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse.endpoints import endpoint_path
from lakehouse.endpoints.models import Table
from lakehouse.errors import EndpointConfigError, InvalidJobPayloadError
from lakehouse.queue.jobs import MAX_PAYLOAD_BYTES, CrawlJob, run_id_for
from lakehouse.raw import layout as raw_layout

HOSTILE = [
    "../../etc/passwd",
    "..",
    "../x",
    "/etc/passwd",
    "/abs",
    "a/b",
    "a/../b",
    "sandbox_trades\n",
    "sandbox_trades\r",
    "sandbox_tr\u0430des",  # Cyrillic а
    "\uff53andbox_trades",  # fullwidth s
    "sandbox_trades\u200b",  # zero-width space
    "s" * 101,
    "s" * 5000,
    "",
    " ",
    "sandbox trades",
    "sandbox;rm -rf",
    "Sandbox",
    "1sandbox",
    "sandbox\x00",
]
SLOT = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)
LAKEHOUSE = str(Path(sys.executable).with_name("lakehouse"))


def _job() -> CrawlJob:
    return CrawlJob.for_slot(
        endpoint="sandbox_trades",
        slot_start=SLOT,
        slot_end=SLOT + timedelta(minutes=15),
        config_hash="0" * 64,
        raw_base="raw",
    )


@pytest.mark.parametrize("name", HOSTILE, ids=lambda n: repr(n[:20]))
def test_endpoint_and_table_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid name"):
        Table(namespace="market", name=name, columns=[{"name": "a", "path": "a", "type": "string"}])
    with pytest.raises(ValueError, match="not a valid name"):
        Table(namespace=name, name="t", columns=[{"name": "a", "path": "a", "type": "string"}])
    with pytest.raises(ValueError):
        run_id_for(name, SLOT)
    with pytest.raises(EndpointConfigError, match="is not an endpoint name"):
        endpoint_path(name, Path("/nonexistent"))


@pytest.mark.parametrize(
    "name", [n for n in HOSTILE if n not in ("Sandbox", "1sandbox", "s" * 101)], ids=lambda n: repr(n[:20])
)
def test_raw_layout_segments(name: str) -> None:
    with pytest.raises(ValueError, match="not safe in an S3 key"):
        raw_layout.endpoint_prefix("raw", name)
    with pytest.raises(ValueError, match="not safe in an S3 key"):
        raw_layout.run_prefix("raw", "sandbox_trades", SLOT, name)


@pytest.mark.parametrize(
    "base", ["raw/../x", "..", "raw//x", "r\u0430w", "raw/x\n", "raw/.hidden", "raw/a b"], ids=repr
)
def test_raw_base_segments(base: str) -> None:
    with pytest.raises(ValueError, match="raw prefix segment"):
        raw_layout.endpoint_prefix(base, "sandbox_trades")


def test_parse_manifest_key_ignores_hostile_segments() -> None:
    good = raw_layout.manifest_key(_job().raw_prefix)
    assert raw_layout.parse_manifest_key(good) is not None
    assert raw_layout.parse_manifest_key(good.replace("sandbox_trades__", "sandbox_trades\n__", 1)) is None


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("raw_prefix", "../{p}", "raw_prefix"),
        ("raw_prefix", "/{p}", "raw_prefix"),
        ("raw_prefix", "/etc/{s}", "raw_prefix"),
        ("raw_prefix", "raw/../{p}", "raw_prefix"),
        ("raw_prefix", "raw//{s}", "raw_prefix"),
        ("raw_prefix", "r\u0430w/{s}", "raw_prefix"),
        ("raw_prefix", "x" * 2000 + "/{s}", "raw_prefix"),
        ("run_id", "../sandbox_trades__20240102T0300Z", "run_id"),
        ("run_id", "sandbox_trades__20240102T0300Z\n", "run_id"),
        ("run_id", "sandbox_trades__２０２４0102T0300Z", "run_id"),
        ("endpoint", "sandbox_trades\n", "endpoint"),
        ("endpoint", "../sandbox_trades", "endpoint"),
        ("endpoint", "e" * 150, "endpoint"),
    ],
)
def test_hostile_job_fields(field: str, value: str, says: str) -> None:
    job = _job()
    suffix = raw_layout.run_prefix("", job.endpoint, job.slot_start, job.run_id)
    doc = json.loads(job.to_payload())
    doc[field] = value.format(p=job.raw_prefix, s=suffix)
    with pytest.raises(InvalidJobPayloadError) as info:
        CrawlJob.from_payload(json.dumps(doc))
    assert says in str(info.value)


def test_oversized_payload_refused_before_parsing() -> None:
    doc = json.loads(_job().to_payload())
    doc["padding"] = "x" * MAX_PAYLOAD_BYTES
    with pytest.raises(InvalidJobPayloadError, match=f"over the limit of {MAX_PAYLOAD_BYTES}"):
        CrawlJob.from_payload(json.dumps(doc))


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "sandbox_tr\u0430des", "s" * 300])
def test_crawl_cli_refuses_hostile_endpoint_names(name: str, tmp_path: Path) -> None:
    # No stack: the name is refused before any settings, Redis or file access.
    proc = subprocess.run(
        [LAKEHOUSE, "crawl", name],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "LAKEHOUSE_REDIS__PORT": "1", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "is not an endpoint name" in proc.stderr
    assert "Traceback" not in proc.stderr
