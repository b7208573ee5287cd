"""Catalog steps benchmark (a script, not a test): the signal publish and the count check.

    .venv/bin/python benchmarks/catalog_steps_bench.py --own-stack             # throwaway stack
    .venv/bin/python benchmarks/catalog_steps_bench.py --own-stack --slots 96  # a day of slots
    .venv/bin/python benchmarks/catalog_steps_bench.py                         # the running stack

Each step runs in a fresh Python process, as an Airflow task does, and is timed
three ways: the imports it needs, its first call (catalog connection and table
loads included) and the median of its next calls in the same process.

- publish: ``lakehouse.tables.signals.publish`` of one slot's signal row into a signal
  table that already holds ``--slots`` rows, against the code before issue 9 (a new
  catalog client per call, create-then-load of the table, a replace filtered by run
  id alone on a table with truncated run-id bounds), inlined below as ``legacy``; both
  build the row with the real ``lakehouse.tables.signals.signal_row``.
- count: a run's rows in a (ds, hr, min)-partitioned table of ``--slots`` slots plus
  its quarantine table, as ``check_table_counts`` counts them (``lakehouse.pipeline.steps
  .run_rows``: manifest metadata), against the scans it used before; and the new
  code on a table without full run-id bounds (where it falls back to reading the
  slot's files).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST_SLOT = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
SLOT = timedelta(minutes=15)
NAMESPACE = "default"
FULL_BOUNDS = {"write.metadata.metrics.column._run_id": "full"}
QUARANTINE_FULL_BOUNDS = {"write.metadata.metrics.column.run_id": "full"}


def run_id(i: int) -> str:
    from lakehouse.queue.jobs import run_id_for

    return run_id_for("bench_trades", FIRST_SLOT + i * SLOT)


# -- the code before issue 9, kept here to measure against ---------------------------


def legacy_catalog(settings):  # type: ignore[no-untyped-def]
    from pyiceberg.catalog import load_catalog as _load

    from lakehouse.tables.catalog import catalog_properties

    return _load(settings.catalog.name, **catalog_properties(settings))


def legacy_publish(settings, signal, identifier: str) -> None:  # type: ignore[no-untyped-def]
    import warnings

    from pyiceberg.exceptions import CommitFailedException, ValidationException
    from pyiceberg.expressions import EqualTo
    from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    from lakehouse.tables.signals import _schema, _spec, signal_row

    catalog = legacy_catalog(settings)

    @retry(
        retry=retry_if_exception_type((CommitFailedException, ValidationException)),
        stop=stop_after_attempt(12),
        wait=wait_random_exponential(multiplier=0.2, max=5),
        reraise=True,
    )
    def _replace() -> None:
        table = catalog.create_table_if_not_exists(identifier, schema=_schema(), partition_spec=_spec())
        row = signal_row(signal, table.schema().as_arrow())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Delete operation did not match any records")
            table.overwrite(row, overwrite_filter=EqualTo("run_id", signal.run_id))

    _replace()


def legacy_count(settings, identifier: str, rid: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from pyiceberg.expressions import EqualTo

    catalog = legacy_catalog(settings)
    landed = catalog.load_table(identifier).scan(row_filter=EqualTo("_run_id", rid)).count()
    quarantine = f"{identifier}__quarantine"
    quarantined = (
        catalog.load_table(quarantine).scan(row_filter=EqualTo("run_id", rid)).count()
        if catalog.table_exists(quarantine)
        else 0
    )
    return landed, quarantined


def new_count(settings, identifier: str, rid: str, slot_start: datetime) -> tuple[int, int, bool]:  # type: ignore[no-untyped-def]
    from pyiceberg.exceptions import NoSuchTableError

    from lakehouse.pipeline.steps import run_rows
    from lakehouse.tables.catalog import load_catalog

    catalog = load_catalog(settings)
    landed = run_rows(catalog.load_table(identifier), "_run_id", rid, slot_start)
    try:
        quarantined = run_rows(catalog.load_table(f"{identifier}__quarantine"), "run_id", rid, slot_start)
    except NoSuchTableError:
        return landed.rows, 0, landed.from_metadata
    return landed.rows, quarantined.rows, landed.from_metadata and quarantined.from_metadata


# -- one step in a fresh process ------------------------------------------------------


def child(step: str, slots: int, calls: int, identifier: str) -> dict[str, object]:
    t0 = time.perf_counter()
    import pyiceberg.catalog.rest  # noqa: F401
    import pyiceberg.table  # noqa: F401

    from lakehouse.config.settings import load_settings
    from lakehouse.pipeline import steps as pipeline  # noqa: F401
    from lakehouse.tables.signals import Signal, publish

    settings = load_settings()
    imports = time.perf_counter() - t0
    times: list[float] = []
    answers: list[object] = []
    for n in range(calls):
        i = slots + n if step.startswith("publish") else (n * 7) % slots
        rid, start = run_id(i), FIRST_SLOT + i * SLOT
        t = time.perf_counter()
        if step == "publish-legacy":
            legacy_publish(settings, _signal(Signal, rid, start), identifier)
        elif step == "publish":
            publish(settings, _signal(Signal, rid, start))
        elif step == "count-legacy":
            answers.append(legacy_count(settings, identifier, rid))
        else:
            answers.append(new_count(settings, identifier, rid, start))
        times.append(time.perf_counter() - t)
    return {
        "step": step,
        "imports": imports,
        "first": times[0],
        "warm": statistics.median(times[1:]) if calls > 1 else None,
        "answers": answers,
    }


def _signal(cls, rid: str, start: datetime):  # type: ignore[no-untyped-def]
    return cls(
        run_id=rid,
        endpoint="bench_trades",
        s3_path=f"s3://warehouse/raw/bench_trades/{rid}/_manifest.json",
        slot_start=start,
        pages=9,
        records=900,
        bytes=123456,
    )


def run_child(step: str, slots: int, calls: int, identifier: str) -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            step,
            "--slots",
            str(slots),
            "--calls",
            str(calls),
            "--table",
            identifier,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=os.environ.copy(),
    )
    if out.returncode != 0:
        raise SystemExit(f"{step} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- setup: tables that look like a transform's output ---------------------------------


def make_tables(settings, slots: int, rows: int, bad: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Two copies of one slot-partitioned table (+ quarantine): full run-id bounds and
    the default truncated ones. One commit per slot, as one transform per slot makes."""
    import pyarrow as pa
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import IntegerType, LongType, NestedField, StringType

    from lakehouse.raw.layout import partition_of
    from lakehouse.tables.catalog import load_catalog

    catalog = load_catalog(settings)
    schema = Schema(
        NestedField(1, "trade_id", LongType()),
        NestedField(2, "symbol", StringType()),
        NestedField(3, "_run_id", StringType()),
        NestedField(4, "ds", StringType()),
        NestedField(5, "hr", IntegerType()),
        NestedField(6, "min", IntegerType()),
    )
    qschema = Schema(
        NestedField(1, "reason", StringType()),
        NestedField(2, "record", StringType()),
        NestedField(3, "run_id", StringType()),
        NestedField(4, "ds", StringType()),
        NestedField(5, "hr", IntegerType()),
        NestedField(6, "min", IntegerType()),
    )

    def spec(s: Schema) -> PartitionSpec:
        return PartitionSpec(
            *(
                PartitionField(s.find_field(n).field_id, 1000 + k, IdentityTransform(), n)
                for k, n in enumerate(("ds", "hr", "min"))
            )
        )

    made = {}
    for flavour, props, qprops in (("full", FULL_BOUNDS, QUARANTINE_FULL_BOUNDS), ("truncated", {}, {})):
        ident = f"{NAMESPACE}.bench_counts_{flavour}_{slots}"
        for name in (ident, f"{ident}__quarantine"):
            if catalog.table_exists(name):
                catalog.drop_table(name)
        main = catalog.create_table(ident, schema=schema, partition_spec=spec(schema), properties=props)
        quarantine = catalog.create_table(
            f"{ident}__quarantine", schema=qschema, partition_spec=spec(qschema), properties=qprops
        )
        for i in range(slots):
            p = partition_of(FIRST_SLOT + i * SLOT)
            rid = run_id(i)
            main.append(
                pa.table(
                    {
                        "trade_id": pa.array(range(i * rows, (i + 1) * rows), pa.int64()),
                        "symbol": ["BTCUSDT"] * rows,
                        "_run_id": [rid] * rows,
                        "ds": [p.ds] * rows,
                        "hr": pa.array([int(p.hr)] * rows, pa.int32()),
                        "min": pa.array([int(p.min)] * rows, pa.int32()),
                    },
                    schema=schema.as_arrow(),
                )
            )
            quarantine.append(
                pa.table(
                    {
                        "reason": ["bad price"] * bad,
                        "record": ['{"price": "x"}'] * bad,
                        "run_id": [rid] * bad,
                        "ds": [p.ds] * bad,
                        "hr": pa.array([int(p.hr)] * bad, pa.int32()),
                        "min": pa.array([int(p.min)] * bad, pa.int32()),
                    },
                    schema=qschema.as_arrow(),
                )
            )
        made[flavour] = ident
    return made


def seed_signals(settings, slots: int, legacy_identifier: str) -> None:  # type: ignore[no-untyped-def]
    """Both signal tables hold `slots` earlier rows, as after a backfill."""
    from lakehouse.tables.signals import Signal, publish

    for i in range(slots):
        s = _signal(Signal, run_id(i), FIRST_SLOT + i * SLOT)
        publish(settings, s)
        legacy_publish(settings, s, legacy_identifier)


app = typer.Typer(add_completion=False)


@app.command(help=__doc__.split("\n\n")[0] if __doc__ else None)
def main(
    slots: int = typer.Option(48, help="slots already in the tables (default 48)"),
    rows: int = typer.Option(900, help="rows per slot"),
    quarantined: int = typer.Option(3, help="quarantined records per slot"),
    calls: int = typer.Option(6, help="calls per step and process (first + warm ones)"),
    with_own_stack: bool = typer.Option(False, "--own-stack", help="start a throwaway local stack on free ports"),
    child_step: str | None = typer.Option(None, "--child", hidden=True),
    table: str | None = typer.Option(None, hidden=True),
) -> int:
    if child_step:
        print(json.dumps(child(child_step, slots, calls, table or "")))
        return 0

    from lakehouse.config.settings import load_settings

    with ExitStack() as cleanup:
        if with_own_stack:
            from benchmarks.own_stack import own_stack

            tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="catalog-bench-")))
            cleanup.enter_context(own_stack(tmp / "stack"))
        settings = load_settings()
        legacy_signals = "scraper.signals_legacy_bench"
        t = time.perf_counter()
        tables = make_tables(settings, slots, rows, quarantined)
        seed_signals(settings, slots, legacy_signals)
        print(
            f"setup: {slots} slots x {rows} rows (+{quarantined} quarantined) in two table "
            f"flavours, {slots} signal rows in each signal table: {time.perf_counter() - t:.1f} s"
        )
        results = [
            ("publish", "before (legacy)", run_child("publish-legacy", slots, calls, legacy_signals)),
            ("publish", "after", run_child("publish", slots, calls, "")),
            ("count", "before (legacy scans)", run_child("count-legacy", slots, calls, tables["truncated"])),
            (
                "count",
                "after, truncated bounds (fallback)",
                run_child("count", slots, calls, tables["truncated"]),
            ),
            ("count", "after, full run-id bounds", run_child("count", slots, calls, tables["full"])),
        ]
    print(f"\n{'step':8} {'variant':36} {'imports s':>9} {'first call s':>12} {'warm median s':>13}  answers")
    for step, variant, r in results:
        warm = f"{r['warm']:.3f}" if r["warm"] is not None else "-"
        answers = {json.dumps(a) for a in r["answers"]} if r["answers"] else {"-"}
        print(f"{step:8} {variant:36} {r['imports']:9.3f} {r['first']:12.3f} {warm:>13}  {', '.join(sorted(answers))}")
    return 0


if __name__ == "__main__":
    app()
