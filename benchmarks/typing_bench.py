"""Typing benchmark (a script, not a test): raw pages to typed Arrow columns, in memory.

    .venv/bin/python benchmarks/typing_bench.py                    # 1000 pages of 1000
    .venv/bin/python benchmarks/typing_bench.py --pages 200 --repeat 5
    .venv/bin/python benchmarks/typing_bench.py --misfit-every 2  # a misfit in every 2nd page
    .venv/bin/python benchmarks/typing_bench.py --own-stack        # pages fetched from S3 too

The pages are the transform benchmark's (benchmarks/transform_bench.py): sandbox
trades (``sandbox.market.trade``) as ``{"data": {"items": [...]}, "total": n}``,
typed against config/endpoints/sandbox_trades.yaml's table. Three ways, one after
another in this process, CPU seconds (all threads) and wall seconds of each:

- orjson: today's path, ``PageBatch`` (orjson, per-column lists, Arrow conversions),
  all of it on the calling thread, holding the GIL;
- arrow here: ``FastPageBatch`` trying each page with pyarrow.json on the calling thread;
- arrow in threads: the same, the pyarrow.json reads in ``FETCH_THREADS`` threads
  through ``prefetched``, as ``LandingReader.read`` runs them while pages are fetched.

"main" is the calling thread's own CPU: what holds the GIL on the driver's one core.

With ``--own-stack`` the pages are landed in a throwaway stack's S3 instead (as
benchmarks/transform_bench.py lands them: 4 slots of 250 pages) and each way is
``LandingReader.read`` (lakehouse/transform/reader.py) over every landing, page GETs and checksums in the
fetching threads included: the transform's "reading + typing" without Spark. The
orjson way is the same function with the pyarrow.json path switched off. The object
store's own CPU (another process) is not counted.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lakehouse.endpoints import load_endpoint  # noqa: E402
from lakehouse.transform.batches import FastPageBatch, PageBatch, gc_paused  # noqa: E402
from lakehouse.transform.fetch import FETCH_THREADS, prefetched  # noqa: E402
from lakehouse.transform.typer import ArrowTyper, TypedRecords  # noqa: E402
from sandbox.market import MarketConfig, trade  # noqa: E402

ENDPOINT_CONFIG = ROOT / "config" / "endpoints" / "sandbox_trades.yaml"
RECORDS_PATH = "data.items"


def make_pages(pages: int, per_page: int, misfit_every: int = 0) -> list[tuple[str, bytes]]:
    market = MarketConfig()
    out = []
    for p in range(pages):
        records: list[dict[str, object]] = [
            trade(market, "BTCUSDT", i) for i in range(p * per_page, (p + 1) * per_page)
        ]
        if misfit_every and p % misfit_every == 0:
            records[0] = {**records[0], "price": "n/a"}  # quarantined: the page is the orjson path's
        out.append((f"raw/page-{p:06d}.json", json.dumps({"data": {"items": records}, "total": per_page}).encode()))
        if (p + 1) % 100 == 0 and sys.stdout.isatty():
            print(f"  built {p + 1}/{pages} pages", end="\r", flush=True)
    return out


def orjson_path(typer: ArrowTyper, pages: list[tuple[str, bytes]]) -> TypedRecords:
    batch = PageBatch(typer, RECORDS_PATH)
    for key, body in pages:
        batch.add_page(key, body)
    return batch.finish()


def arrow_here(typer: ArrowTyper, pages: list[tuple[str, bytes]]) -> TypedRecords:
    batch = FastPageBatch(typer, RECORDS_PATH)
    for key, body in pages:
        batch.add_page(key, body)
    return batch.finish()


def arrow_threads(typer: ArrowTyper, pages: list[tuple[str, bytes]]) -> TypedRecords:
    batch = FastPageBatch(typer, RECORDS_PATH)
    prepare = batch.prepare
    assert prepare is not None

    def fetch(page: tuple[str, bytes]) -> tuple[str, bytes, object]:
        return page[0], page[1], prepare(page[1])

    for key, body, prepared in prefetched(fetch, pages, FETCH_THREADS):
        batch.add_page(key, body, prepared)
    return batch.finish()


WAYS: dict[str, Callable[[ArrowTyper, list[tuple[str, bytes]]], TypedRecords]] = {
    "orjson": orjson_path,
    "arrow here": arrow_here,
    "arrow in threads": arrow_threads,
}


def read_landings(settings: Any, endpoint: Any, landings: list[Any], fast: bool):
    """LandingReader.read over the landings, the pyarrow.json path on or off."""
    from lakehouse.raw.storage import s3_client
    from lakehouse.transform import reader as landing_reader
    from lakehouse.transform.landings import read_manifest

    client = s3_client(settings.s3)
    manifests = [read_manifest(client, settings.s3.bucket, landing.manifest_key) for landing in landings]
    reader = landing_reader.LandingReader(settings.s3, endpoint.table, endpoint.response_map.records_path)

    def way(_typer: ArrowTyper, _pages: object) -> TypedRecords:
        original = landing_reader.FastPageBatch
        landing_reader.FastPageBatch = functools.partial(FastPageBatch, fast=fast)  # type: ignore[misc]
        try:
            rows = [reader.read(m) for m in manifests]
        finally:
            landing_reader.FastPageBatch = original  # type: ignore[misc]
        return TypedRecords(pa.concat_tables([r for r, _ in rows]), [])

    return way


def stack_ways(tmp: Path, pages: int, per_page: int) -> tuple[dict[str, Callable[..., TypedRecords]], Any]:
    from benchmarks.transform_bench import bench_endpoint, land_slots
    from lakehouse.config.settings import load_settings
    from lakehouse.raw.storage import ensure_bucket

    settings = load_settings()
    ensure_bucket(settings.s3)
    endpoint = bench_endpoint(tmp, "typing_bench")
    t0 = time.monotonic()
    landings = land_slots(settings, endpoint.name, 4, max(1, pages // 4), per_page)
    print(f"landed {sum(landing.records for landing in landings):,} records in {time.monotonic() - t0:.1f} s")
    ways = {
        "orjson (+ GETs)": read_landings(settings, endpoint, landings, fast=False),
        "arrow (+ GETs)": read_landings(settings, endpoint, landings, fast=True),
    }
    return ways, endpoint


def measure(way: Callable[..., TypedRecords], typer: ArrowTyper, pages: list[tuple[str, bytes]]):
    cpu, main, wall = time.process_time(), time.thread_time(), time.perf_counter()
    with gc_paused():
        typed = way(typer, pages)
    return time.process_time() - cpu, time.thread_time() - main, time.perf_counter() - wall, typed


app = typer.Typer(add_completion=False)


@app.command(help=__doc__.split("\n")[0] if __doc__ else None)
def main(
    pages: int = typer.Option(1000),
    per_page: int = typer.Option(1000),
    repeat: int = typer.Option(3, help="runs of each way, interleaved; medians shown"),
    misfit_every: int = typer.Option(0, help="one misfit record in every Nth page (0: none)"),
    with_own_stack: bool = typer.Option(False, "--own-stack", help="fetch the pages from a throwaway stack's S3"),
) -> None:
    if with_own_stack:
        from benchmarks.own_stack import own_stack

        with tempfile.TemporaryDirectory(prefix="typing-bench-") as tmpdir, own_stack(Path(tmpdir) / "stack"):
            ways, endpoint = stack_ways(Path(tmpdir), pages, per_page)
            run(ways, ArrowTyper(endpoint.table), [], repeat)
        return
    misfits = f", a misfit in every {misfit_every}. page" if misfit_every else ""
    print(f"typing {pages} x {per_page} sandbox records{misfits}")
    page_bodies = make_pages(pages, per_page, misfit_every)
    run(WAYS, ArrowTyper(load_endpoint(ENDPOINT_CONFIG).table), page_bodies, repeat)


def run(ways: dict[str, Callable[..., TypedRecords]], typer: ArrowTyper, pages: list[tuple[str, bytes]], repeat: int):
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} before the runs")
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
    reference = None
    for _ in range(repeat):
        for name, way in ways.items():
            cpu, main_cpu, wall, typed = measure(way, typer, pages)
            results[name].append((cpu, main_cpu, wall))
            if reference is None:
                reference = typed
            # Every way must give the same rows: a faster wrong answer is no answer.
            assert typed.table.equals(reference.table) and typed.quarantined == reference.quarantined, name
    assert reference is not None
    n = reference.table.num_rows
    print(f"{'way':<17} {'CPU s':>7} {'main s':>7} {'wall s':>7} {'rec/s (wall)':>13}")
    medians = {}
    for name, runs in results.items():
        cpu, main_cpu, wall = (statistics.median(r[i] for r in runs) for i in range(3))
        medians[name] = (cpu, main_cpu, wall)
        print(f"{name:<17} {cpu:>7.2f} {main_cpu:>7.2f} {wall:>7.2f} {n / wall:>13,.0f}")
    first, *others = medians
    base = medians[first]
    for name in others:
        cpu, main_cpu, wall = medians[name]
        print(f"{first} / {name}: CPU {base[0] / cpu:.2f}x, main {base[1] / main_cpu:.2f}x, wall {base[2] / wall:.2f}x")
    print(f"{n:,} rows, {len(reference.quarantined)} quarantined; medians of {repeat} runs")


if __name__ == "__main__":
    app()
