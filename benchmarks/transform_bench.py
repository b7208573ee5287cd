"""Transform benchmark (a script, not a test): raw pages to a typed Iceberg table.

    .venv/bin/python benchmarks/transform_bench.py --own-stack                  # 1M records, throwaway stack
    .venv/bin/python benchmarks/transform_bench.py --own-stack --records 200000 # smaller
    .venv/bin/python benchmarks/transform_bench.py --own-stack --records 10000000 --skip-dlt  # memory bound
    .venv/bin/python benchmarks/transform_bench.py --own-stack --per-slot       # + (c), needs spark-connect
    .venv/bin/python benchmarks/transform_bench.py --own-stack --warmup-records 100000 --warm-both  # both warmed
    .venv/bin/python benchmarks/transform_bench.py --own-stack --writer both    # ours twice (arrow, spark) + dlt
    .venv/bin/python benchmarks/transform_bench.py                              # the running stack

In one run, on the same raw landings (sandbox-like trade records, written with
``lakehouse.raw.layout`` into the stack's S3 exactly as the crawler lands them):

(a) ours: ``spark_jobs.raw_to_table.run`` over every slot in one call (Arrow-typed,
    batched writes), session start-up timed apart from the transform, with the table
    writer of ``--writer`` (settings ``spark.table_writer``: ``arrow``, pyarrow files
    committed through the catalog, or ``spark``, Spark's writer; ``both`` runs the same
    landings through each, into a table each, on one session). By default in
    local mode in-process (``local[2]``); ``--engine connect`` runs it on the stack's
    Spark Connect server instead. The output says which. Peak RSS is sampled every
    0.2 s for the driver: this Python process and (local mode) its JVM child;
(b) dlt: a dlt resource reads the same manifests and pages from S3, applies the same
    column types (decimals, epoch-ms timestamps, flattened venue, ds/hr/min), and
    dlt's filesystem destination with ``table_format="iceberg"`` writes them through
    the same Nessie REST catalog (pyiceberg underneath) into the same S3 server;
    then records/s of both and the ratio;
(c) with ``--per-slot``, per-slot overhead on a small slot: one ``spark-submit
    spark_jobs/raw_to_table.py`` per slot, against the same entry point with
    ``--remote`` on the stack's Spark Connect server (a new Python process per slot,
    as an Airflow task would be), and against one client session per slot inside a
    long-lived process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import psutil
import typer
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.own_stack import own_stack  # noqa: E402
from lakehouse.config.settings import Settings, load_settings  # noqa: E402
from lakehouse.endpoints import EndpointConfig, load_endpoint  # noqa: E402
from lakehouse.endpoints.jsonpath import compile_path  # noqa: E402
from lakehouse.local.services.spark_connect_server import SparkConnectService  # noqa: E402
from lakehouse.local.stack import LocalStack  # noqa: E402
from lakehouse.queue.jobs import run_id_for  # noqa: E402
from lakehouse.raw.layout import Manifest, ManifestPage, page_key, partition_of, run_prefix, sha256_hex  # noqa: E402
from lakehouse.raw.storage import ensure_bucket, s3_client  # noqa: E402
from lakehouse.tables.catalog import catalog_properties, load_catalog  # noqa: E402
from lakehouse.transform.fetch import PageFetcher  # noqa: E402
from lakehouse.transform.landings import read_manifest  # noqa: E402
from sandbox.market import MarketConfig, trade  # noqa: E402
from spark_jobs.submit import submit_command  # noqa: E402

# The attempt (lease id) the benchmark's landings are written as, like a first crawl.
ATTEMPT = 1
FIRST_SLOT = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
SLOT = timedelta(minutes=15)
ENDPOINT_CONFIG = ROOT / "config" / "endpoints" / "sandbox_trades.yaml"


@dataclass(frozen=True)
class Landing:
    prefix: str
    manifest_key: str
    records: int


def bench_endpoint(directory: Path, name: str) -> EndpointConfig:
    """sandbox_trades' request and declared table, under this run's own names, so
    reruns and the two engines never share a table."""
    doc = yaml.safe_load(ENDPOINT_CONFIG.read_text())
    doc["name"] = name
    doc["table"]["name"] = name
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_endpoint(path)


def land(settings: Settings, endpoint: str, slot: datetime, pages: int, per_page: int, first_index: int) -> Landing:
    """One slot's pages and manifest, as the crawler writes them (manifest last)."""
    client = s3_client(settings.s3)
    market = MarketConfig()
    run_id = run_id_for(endpoint, slot)
    prefix = run_prefix(settings.s3.raw_prefix, endpoint, slot, run_id)

    def put(index: int) -> ManifestPage:
        start = first_index + (index - 1) * per_page
        records = [trade(market, "BTCUSDT", i) for i in range(start, start + per_page)]
        body = json.dumps({"data": {"items": records}, "total": per_page}).encode()
        key = page_key(prefix, index, ATTEMPT)
        client.put_object(Bucket=settings.s3.bucket, Key=key, Body=body)
        return ManifestPage(
            index=index,
            key=key,
            url=f"http://127.0.0.1:18080/v1/offset?offset={start}",
            status_code=200,
            records=per_page,
            bytes=len(body),
            sha256=sha256_hex(body),
            fetched_at=slot + SLOT,
            elapsed_seconds=0.01,
        )

    # Threads overlap the PUTs; the record generation itself is Python-bound.
    with ThreadPoolExecutor(max_workers=4) as pool:
        listed = list(pool.map(put, range(1, pages + 1)))
    manifest = Manifest.build(
        run_id=run_id,
        endpoint=endpoint,
        slot_start=slot,
        slot_end=slot + SLOT,
        prefix=prefix,
        pages=listed,
        started_at=slot + SLOT,
        finished_at=slot + SLOT + timedelta(minutes=1),
        attempt=ATTEMPT,
    )
    client.put_object(Bucket=settings.s3.bucket, Key=manifest.key, Body=manifest.to_json_bytes())
    return Landing(prefix=prefix, manifest_key=manifest.key, records=pages * per_page)


def land_slots(settings: Settings, endpoint: str, slots: int, pages: int, per_page: int) -> list[Landing]:
    return [
        land(settings, endpoint, FIRST_SLOT + n * SLOT, pages, per_page, n * pages * per_page) for n in range(slots)
    ]


# --- (a) ours ---------------------------------------------------------------------------


class PeakRss:
    """Samples the RSS of this process and its children (the local-mode driver JVM)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.python = 0
        self.jvm = 0
        self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                python = me.memory_info().rss
                children = sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                continue
            self.python, self.jvm = max(self.python, python), max(self.jvm, children)
            self.total = max(self.total, python + children)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def describe(self) -> str:
        mb = 1024 * 1024
        return (
            f"peak RSS: driver total {self.total / mb:,.0f} MB "
            f"(Python {self.python / mb:,.0f} MB, JVM {self.jvm / mb:,.0f} MB)"
        )


def with_writer(settings: Settings, writer: str) -> Settings:
    return settings.model_copy(update={"spark": settings.spark.model_copy(update={"table_writer": writer})})


def into_table(endpoint: EndpointConfig, suffix: str) -> EndpointConfig:
    """The endpoint (same name, so the same landings) writing a table of its own."""
    assert endpoint.table is not None
    return endpoint.model_copy(
        update={"table": endpoint.table.model_copy(update={"name": f"{endpoint.table.name}_{suffix}"})}
    )


def ours(
    settings: Settings,
    endpoint: EndpointConfig,
    landings: list[Landing],
    engine: str,
    batch_rows: int,
    warmup: tuple[EndpointConfig, Landing],
    writers: list[str],
) -> dict[str, dict[str, Any]]:
    """(a) once per writer, on one session: {writer: figures}."""
    from spark_jobs import raw_to_table
    from spark_jobs.session import SessionOptions, build_session

    if engine == "connect":
        options = SessionOptions(app_name="transform-bench", remote=SparkConnectService(settings).url)
    else:
        # The driver JVM holds each batch's Arrow data on its way to the writer.
        options = SessionOptions(
            app_name="transform-bench", master="local[2]", extra_conf={"spark.driver.memory": "3g"}
        )
    t0 = time.monotonic()
    spark = build_session(settings, options)
    spark.sql("SELECT 1").collect()
    started = time.monotonic() - t0
    expected = sum(landing.records for landing in landings)
    figures: dict[str, dict[str, Any]] = {}
    try:
        for writer in writers:
            writing = with_writer(settings, writer)
            target = into_table(endpoint, writer) if len(writers) > 1 else endpoint
            with PeakRss() as rss:
                # The engine is long-lived (issue 9): a fresh JVM's first write (class
                # loading, JIT) and pyarrow's first conversion (it imports pandas) are
                # paid once per engine, not per slot. Pay them on one small slot of its
                # own, timed apart, with the writer about to be timed.
                t_warm = time.monotonic()
                raw_to_table.run(spark, writing, into_table(warmup[0], writer), [warmup[1].prefix])
                warm = time.monotonic() - t_warm
                t1 = time.monotonic()
                result = raw_to_table.run(
                    spark, writing, target, [landing.prefix for landing in landings], batch_rows=batch_rows
                )
                seconds = time.monotonic() - t1
            written = spark.table(target.table.identifier).count()  # type: ignore[union-attr]
            if result.rows != expected or written != expected or result.quarantined or result.writer != writer:
                raise RuntimeError(
                    f"{result.writer} wrote {written} rows ({result.rows} typed, {result.quarantined} quarantined), "
                    f"expected {expected} by {writer}"
                )
            figures[writer] = {
                "startup": started,
                "seconds": seconds,
                "rows": float(result.rows),
                "rss": rss,
                "read": result.read_seconds,
                "write": result.write_seconds,
                "warmup": warm,
            }
    finally:
        spark.stop()
    return figures


# --- (b) dlt into Iceberg --------------------------------------------------------------


def dlt_records(settings: Settings, endpoint: EndpointConfig, landings: list[Landing]) -> Iterator[dict[str, Any]]:
    """The same records, read and typed the way raw_to_table types them: pages fetched
    and checked by the same PageFetcher (8 at a time) and parsed by the same orjson
    (dlt's own JSON library too), so dlt is not handicapped on the reading side."""
    client = s3_client(settings.s3)
    bucket = settings.s3.bucket
    fetcher = PageFetcher(settings.s3)
    records_at = compile_path(endpoint.response_map.records_path)
    for landing in landings:
        manifest = read_manifest(client, bucket, landing.manifest_key)
        part = partition_of(manifest.slot_start)
        for page, fetched in zip(manifest.pages, fetcher.pages(manifest.pages), strict=True):
            if fetched.body is None or not fetched.checksum_ok:
                raise RuntimeError(f"{page.key} is missing or changed since it was landed")
            for r in records_at.search(orjson.loads(fetched.body)) or []:
                yield {
                    "trade_id": int(r["id"]),
                    "symbol": r["symbol"],
                    "price": Decimal(r["price"]),
                    "qty": Decimal(r["qty"]),
                    "quote_qty": Decimal(r["quote_qty"]),
                    "traded_at": datetime.fromtimestamp(r["time"] / 1000, tz=UTC),
                    "is_buyer_maker": bool(r["is_buyer_maker"]),
                    "venue_code": r["venue"]["code"],
                    "venue_region": r["venue"]["region"],
                    "_run_id": manifest.run_id,
                    "ds": part.ds,
                    "hr": int(part.hr),
                    "min": int(part.min),
                }


def dlt_load(settings: Settings, endpoint: EndpointConfig, landings: list[Landing], tmp: Path) -> dict[str, float]:
    import dlt
    from dlt.destinations.adapters import iceberg_adapter

    key, secret = settings.s3.require_credentials()
    # dlt reads its Iceberg catalog from config: Nessie's REST endpoint, as pyiceberg
    # everywhere else in the project is given it.
    os.environ["ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE"] = "rest"
    os.environ["ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG"] = json.dumps(catalog_properties(settings))
    dataset = f"dlt_{endpoint.name}"
    columns: dict[str, Any] = {
        "price": {"data_type": "decimal", "precision": 18, "scale": 8},
        "qty": {"data_type": "decimal", "precision": 18, "scale": 8},
        "quote_qty": {"data_type": "decimal", "precision": 24, "scale": 8},
        "traded_at": {"data_type": "timestamp"},
    }
    resource = dlt.resource(
        dlt_records(settings, endpoint, landings),
        name="trades",
        columns=columns,
        table_format="iceberg",
        write_disposition="append",
    )
    resource = iceberg_adapter(resource, partition=["ds", "hr", "min"])
    destination = dlt.destinations.filesystem(
        bucket_url=f"s3://{settings.s3.bucket}/dlt",
        credentials={
            "aws_access_key_id": key,
            "aws_secret_access_key": secret,
            "endpoint_url": settings.s3.endpoint_url,
            "region_name": settings.s3.region,
        },
    )
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{endpoint.name}",
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=str(tmp / "dlt"),
    )
    t0 = time.monotonic()
    pipeline.run(resource)
    seconds = time.monotonic() - t0
    table = load_catalog(settings).load_table(f"{dataset}.trades")
    rows = table.scan().to_arrow().num_rows
    expected = sum(landing.records for landing in landings)
    if rows != expected:
        raise RuntimeError(f"dlt wrote {rows} rows to {dataset}.trades, expected {expected}")
    return {"seconds": seconds, "rows": float(rows)}


# --- (c) per-slot overhead -------------------------------------------------------------


def per_slot_runs(
    settings: Settings, endpoints_dir: Path, name: str, landings: list[Landing], connect_url: str
) -> dict[str, list[float]]:
    job_args = ["--endpoint", name, "--endpoints-dir", str(endpoints_dir)]
    times: dict[str, list[float]] = {
        "spark-submit": [],
        "connect (process per slot)": [],
        "connect (session per slot)": [],
    }
    for landing in landings:
        cmd = submit_command(settings, "raw_to_table", [*job_args, "--run", landing.prefix])
        t0 = time.monotonic()
        subprocess.run(cmd.argv, env={**os.environ, **cmd.env}, check=True, capture_output=True, cwd=ROOT)
        times["spark-submit"].append(time.monotonic() - t0)
    for landing in landings:
        t0 = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "spark_jobs" / "raw_to_table.py"),
                "--remote",
                connect_url,
                *job_args,
                "--run",
                landing.prefix,
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        times["connect (process per slot)"].append(time.monotonic() - t0)
    # Last: once this process holds a Connect session, pyspark 3.5 keeps it in Connect mode.
    from spark_jobs import raw_to_table
    from spark_jobs.session import SessionOptions, build_session

    endpoint = load_endpoint(endpoints_dir / f"{name}.yaml")
    for landing in landings:
        t0 = time.monotonic()
        spark = build_session(settings, SessionOptions(remote=connect_url))
        try:
            raw_to_table.run(spark, settings, endpoint, [landing.prefix])
        finally:
            spark.stop()
        times["connect (session per slot)"].append(time.monotonic() - t0)
    return times


class Engine(StrEnum):
    local = "local"
    connect = "connect"


class Writer(StrEnum):
    arrow = "arrow"
    spark = "spark"
    both = "both"


app = typer.Typer(add_completion=False)


@app.command(help=__doc__.split("\n\n")[0] if __doc__ else None)
def main(
    records: int = typer.Option(1_000_000, help="records for (a) and (b) (default 1M)"),
    per_page: int = typer.Option(1000, help="records per raw page"),
    slots: int = typer.Option(4, help="slots the records are spread over"),
    batch_rows: int = typer.Option(1_000_000, help="raw_to_table's records per write"),
    engine: Engine = typer.Option(
        Engine.local, help="(a) in local mode in-process (default) or on the stack's Spark Connect server"
    ),
    warmup_records: int = typer.Option(
        1000, help="records of the warm-up slot run before (a) is timed (default 1000, one page)"
    ),
    warm_both: bool = typer.Option(
        False,
        "--warm-both",
        help="run dlt on the warm-up slot too before timing it, as (a) is (a long-lived process each)",
    ),
    writer: Writer | None = typer.Option(
        None, help="(a)'s table writer (default: the settings' spark.table_writer); both: each, one after the other"
    ),
    skip_dlt: bool = typer.Option(False, "--skip-dlt", help="only (a): e.g. a 10M-record memory run"),
    per_slot: bool = typer.Option(False, "--per-slot", help="also (c): per-slot overhead (needs spark-connect)"),
    small_slot_records: int = typer.Option(1000, help="records of each small slot in (c)"),
    small_slots: int = typer.Option(3, help="small slots run one by one in (c)"),
    with_own_stack: bool = typer.Option(False, "--own-stack", help="start a throwaway local stack on free ports"),
) -> int:
    pages = max(1, records // (per_page * slots))
    tag = uuid.uuid4().hex[:6]
    needs_connect = per_slot or engine == "connect"
    with tempfile.TemporaryDirectory(prefix="transform-bench-") as tmpdir, ExitStack() as cleanup:
        tmp = Path(tmpdir)
        if with_own_stack:
            cleanup.enter_context(own_stack(tmp / "stack", extras=["spark-connect"] if needs_connect else []))
            settings = load_settings()
        elif needs_connect:
            connect = LocalStack(load_settings(), services=(SparkConnectService,))
            if connect.up().started:
                cleanup.callback(connect.stop_service, SparkConnectService.name)
            settings = connect.settings
        else:
            settings = load_settings()
        ensure_bucket(settings.s3)
        endpoints_dir = tmp / "endpoints"
        endpoints_dir.mkdir()

        big = bench_endpoint(endpoints_dir, f"bench_big_{tag}")
        t0 = time.monotonic()
        landings = land_slots(settings, big.name, slots, pages, per_page)
        total = sum(landing.records for landing in landings)
        print(
            f"landed {total} records: {slots} slots x {pages} pages x {per_page} records "
            f"in {time.monotonic() - t0:.1f} s",
            flush=True,
        )

        warm = bench_endpoint(endpoints_dir, f"bench_warm_{tag}")
        warm_pages = max(1, warmup_records // per_page)
        warm_landing = land_slots(settings, warm.name, 1, warm_pages, per_page)[0]
        chosen = writer.value if writer else settings.spark.table_writer
        writers = ["arrow", "spark"] if chosen == "both" else [chosen]
        figures = ours(settings, big, landings, engine.value, batch_rows, (warm, warm_landing), writers)
        where = "local[2] in-process" if engine == "local" else "Spark Connect server"
        rates = {}
        for name, a in figures.items():
            rates[name] = total / a["seconds"]
            print(
                f"(a) ours, {name} writer, raw_to_table.run on {where}: {total} records in {a['seconds']:.1f} s "
                f"= {rates[name]:,.0f} records/s (after {a['startup']:.1f} s session start and a "
                f"{a['warmup']:.1f} s warm-up slot of {warm_landing.records} records; batches of "
                f"{batch_rows:,} records)",
                flush=True,
            )
            print(
                f"    of which reading + typing pages {a['read']:.1f} s, writes (files + commits) {a['write']:.1f} s",
                flush=True,
            )
            print(f"    {a['rss'].describe()}", flush=True)
        if len(rates) == 2:
            print(f"    arrow writer / spark writer: {rates['arrow'] / rates['spark']:.1f}x", flush=True)
        if not skip_dlt:
            if warm_both:
                # The same warm-up for dlt: its imports, pyiceberg's catalog and first
                # Arrow/Parquet calls, paid once per process, on a table of its own.
                t_warm = time.monotonic()
                dlt_load(settings, warm, [warm_landing], tmp)
                print(f"(b) dlt warm-up on the same slot: {time.monotonic() - t_warm:.1f} s", flush=True)
            b = dlt_load(settings, big, landings, tmp)
            dlt_rate = total / b["seconds"]
            print(
                f"(b) dlt filesystem/iceberg via Nessie REST: {total} records in {b['seconds']:.1f} s "
                f"= {dlt_rate:,.0f} records/s",
                flush=True,
            )
            for name, rate in rates.items():
                print(
                    f"    ratio: ours ({name} writer) {rate:,.0f} records/s / dlt {dlt_rate:,.0f} records/s "
                    f"= {rate / dlt_rate:.1f}x",
                    flush=True,
                )

        if per_slot:
            connect_url = SparkConnectService(settings).url
            small = bench_endpoint(endpoints_dir, f"bench_small_{tag}")
            small_landings = land_slots(settings, small.name, small_slots, 1, small_slot_records)
            times = per_slot_runs(settings, endpoints_dir, small.name, small_landings, connect_url)
            print(f"(c) per slot of {small_slot_records} records, {small_slots} slots one by one:")
            for label, values in times.items():
                print(
                    f"    {label:28s} median {statistics.median(values):6.2f} s  "
                    f"(runs: {', '.join(f'{v:.2f}' for v in values)})"
                )
            submit_s = statistics.median(times["spark-submit"])
            for label in ("connect (process per slot)", "connect (session per slot)"):
                connect_s = statistics.median(times[label])
                print(
                    f"    {label}: {submit_s - connect_s:.2f} s less per slot than spark-submit "
                    f"({submit_s / connect_s:.1f}x faster)"
                )
    return 0


if __name__ == "__main__":
    app()
