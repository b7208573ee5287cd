"""Soak of the transform engine (a script, not a test): many small slot transforms in a
row against one long-lived Spark Connect server, and the server's memory over them.

    .venv/bin/python benchmarks/engine_soak.py --own-stack                 # 200 slots, throwaway stack
    .venv/bin/python benchmarks/engine_soak.py --own-stack --slots 1000 --records 900
    .venv/bin/python benchmarks/engine_soak.py                             # the running stack's server

Each slot is what an Airflow transform task does with ``spark.engine: connect``: a
landing of ``--records`` sandbox-like trades (``--pages`` pages, written with
lakehouse.raw.layout as the crawler lands them), then one new Connect client session
(built by spark_jobs.session.build_session, timed), ``raw_to_table.run`` for that slot,
and ``spark.stop()`` (which clears the session's cache and releases it on the server).
Every slot is a new (ds, hr, min) partition of one table, as a backfill's are.

Printed: the server's RSS (psutil on the pid the stack recorded, with its child
processes) before the first slot, every ``--every`` slots and at the end, with the
median session start and slot times so far; then a summary line.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.own_stack import own_stack  # noqa: E402
from lakehouse.config.settings import Settings, load_settings  # noqa: E402
from lakehouse.endpoints import EndpointConfig  # noqa: E402
from lakehouse.local.services.spark_connect_server import SparkConnectService  # noqa: E402
from lakehouse.local.stack import LocalStack  # noqa: E402
from tests.integration.landings import endpoint_doc  # noqa: E402
from tests.integration.landings import land as land_pages  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)


def endpoint_config(name: str) -> EndpointConfig:
    doc = endpoint_doc(name)
    doc["table"]["columns"].insert(2, {"name": "qty", "path": "qty", "type": "decimal(18,8)"})  # type: ignore[index]
    return EndpointConfig.model_validate(doc)


def land(settings: Settings, endpoint: str, slot: datetime, records: int, pages: int) -> str:
    """``records`` trades over ``pages`` pages of one slot, written as the crawler lands them."""
    t0 = int(slot.timestamp() * 1000)
    per_page = max(1, records // pages)
    return land_pages(
        settings,
        endpoint,
        slot,
        [
            [
                {
                    "id": first + i,
                    "price": f"{100 + (first + i) % 50}.12345678",
                    "qty": "0.5",
                    "time": t0 + first + i,
                    "venue": {"code": f"V{(first + i) % 3}"},
                }
                for i in range(per_page)
            ]
            for first in range(0, pages * per_page, per_page)
        ],
    )


def server_process(settings: Settings) -> psutil.Process:
    row = next((s for s in LocalStack(settings).status() if s.service == SparkConnectService.name), None)
    if row is None or not row.pid:
        raise SystemExit("no running spark-connect recorded by the stack: `lakehouse local up` (or --own-stack)")
    return psutil.Process(row.pid)


def rss_mb(proc: psutil.Process) -> float:
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 1e6


app = typer.Typer(add_completion=False)


@app.command(help=__doc__.split("\n\n")[0] if __doc__ else None)
def main(
    slots: int = typer.Option(200),
    records: int = typer.Option(900, help="records per slot"),
    pages: int = typer.Option(9, help="pages per slot"),
    every: int = typer.Option(20, help="print the server's RSS every N slots"),
    with_own_stack: bool = typer.Option(False, "--own-stack", help="a throwaway stack with its Connect server"),
) -> int:

    import logging

    logging.basicConfig(level=logging.WARNING)
    with ExitStack() as cleanup:
        if with_own_stack:
            tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="lakehouse-soak-")))
            cleanup.enter_context(own_stack(tmp / "stack", extras=["spark-connect"]))
        settings = load_settings()
        from spark_jobs import raw_to_table
        from spark_jobs.session import build_session

        server = server_process(settings)
        memory = settings.local.spark_connect_driver_memory
        print(
            f"server pid {server.pid} (driver memory {memory}) at {settings.spark.connect_url}; "
            f"{slots} slots x {records} records",
            flush=True,
        )
        print(f"slot {0:>5}: server RSS {rss_mb(server):8.0f} MB", flush=True)
        name = f"soak_{uuid.uuid4().hex[:8]}"
        endpoint = endpoint_config(name)
        session_s: list[float] = []
        slot_s: list[float] = []
        rows = 0
        began = time.monotonic()
        for index in range(slots):
            slot = START + timedelta(minutes=15 * index)
            prefix = land(settings, name, slot, records, pages)
            t0 = time.monotonic()
            spark = build_session(settings)
            t1 = time.monotonic()
            try:
                result = raw_to_table.run(spark, settings, endpoint, [prefix])
            finally:
                spark.stop()
            t2 = time.monotonic()
            session_s.append(t1 - t0)
            slot_s.append(t2 - t0)
            rows += result.rows
            done = index + 1
            if done % every == 0 or done == slots:
                print(
                    f"slot {done:>5}: server RSS {rss_mb(server):8.0f} MB; median session start "
                    f"{statistics.median(session_s):.2f} s, median slot {statistics.median(slot_s):.2f} s",
                    flush=True,
                )
        wall = time.monotonic() - began
        print(
            f"done: {slots} slots, {rows} rows in {wall:.0f} s ({wall / slots:.2f} s per slot incl. "
            f"landing); session start median {statistics.median(session_s):.2f} s / max {max(session_s):.2f} s; "
            f"server pid {server.pid} alive: {server.is_running()}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
