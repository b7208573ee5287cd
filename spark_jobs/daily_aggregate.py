"""An endpoint table -> its daily aggregate table: rows, slots and column sums per day.

    spark-submit spark_jobs/daily_aggregate.py --endpoint sandbox_trades --sum qty --sum quote_qty --days 2026-11-26
    spark-submit spark_jobs/daily_aggregate.py --endpoint sandbox_trades --sum qty --days all

Reads ``<namespace>.<name>`` (the endpoint's ``table:``) and writes
``<namespace>.<name>_daily``, partitioned by ``ds``: one row per day with ``rows``,
``slots`` (distinct (hr, min) slots landed that day) and ``<column>_sum`` for each
``--sum``. The days given are recomputed from the source and replace exactly those
days (a day with no rows left disappears), so a rerun gives the same rows; ``all``
rebuilds the whole table. The example downstream DAG (lakehouse_airflow.downstream)
runs it for the days its triggering ingest runs wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakehouse.endpoints import EndpointConfig, endpoint_path, load_endpoint
from lakehouse.errors import LakehouseError
from spark_jobs.cli import Master, Profile, Remote, Ui, job_app, run_app, run_main, settings_and_options
from spark_jobs.session import build_session
from spark_jobs.tables import TABLE_PROPERTIES, quote, table_exists

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

ALL_DAYS = "all"
NUMERIC_PREFIXES = ("int", "long", "double", "decimal")


class AggregateColumnError(LakehouseError):
    def __init__(self, endpoint: str, problems: list[str]) -> None:
        super().__init__(
            f"cannot aggregate endpoint {endpoint}: {'; '.join(problems)}. "
            f"Sum only numeric columns of its table (config/endpoints/{endpoint}.yaml, table.columns)."
        )


def daily_identifier(source: str) -> str:
    return f"{source}_daily"


def check_sums(config: EndpointConfig, sums: Sequence[str]) -> None:
    """Every --sum names a numeric column of the endpoint's table (or an error naming them)."""
    if config.table is None:
        raise AggregateColumnError(config.name, ["it declares no table"])
    types = {c.name: c.type for c in config.table.columns}
    problems = [
        f"{name!r} is not a column" if name not in types else f"{name!r} is {types[name]}, not numeric"
        for name in sums
        if not types.get(name, "").startswith(NUMERIC_PREFIXES)
    ]
    if problems:
        raise AggregateColumnError(config.name, problems)


@dataclass(frozen=True)
class AggregateResult:
    table: str
    days: int
    rows: int


def run(spark: SparkSession, source: str, sums: Sequence[str], days: Sequence[str] | None) -> AggregateResult:
    """Recompute ``days`` (None: every day) of ``source``'s daily table."""
    from pyspark.sql import functions as F

    target = daily_identifier(source)
    frame = spark.table(quote(source))
    if days is not None:
        frame = frame.where(F.col("ds").isin(list(days)))
    daily = frame.groupBy("ds").agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("hr", "min").alias("slots"),
        *[F.sum(F.col(name)).alias(f"{name}_sum") for name in sums],
    )
    if not table_exists(spark, target):
        writer = daily.writeTo(quote(target)).using("iceberg").partitionedBy(F.col("ds"))
        for key, value in TABLE_PROPERTIES.items():
            writer = writer.tableProperty(key, value)
        writer.create()
    elif days is None:
        daily.writeTo(quote(target)).overwrite(F.lit(True))
    else:
        # Exactly these days: one that has no rows any more is removed, not kept stale.
        daily.writeTo(quote(target)).overwrite(F.col("ds").isin(list(days)))
    summary = daily.agg(F.count(F.lit(1)).alias("days"), F.sum("rows").alias("rows")).first()
    assert summary is not None  # an aggregate without GROUP BY always returns one row
    result = AggregateResult(target, int(summary["days"] or 0), int(summary["rows"] or 0))
    log.info("%s: %d day(s) recomputed from %d rows of %s", target, result.days, result.rows, source)
    return result


def parse_days(text: str) -> list[str] | None:
    """``all`` -> None (every day); else comma-separated YYYY-MM-DD days."""
    from datetime import date

    if text.strip() == ALL_DAYS:
        return None
    return sorted({date.fromisoformat(part.strip()).isoformat() for part in text.split(",") if part.strip()})


app = job_app(__doc__)


@app.command()
def _daily_aggregate(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Option(help="endpoint name (config/endpoints/<name>.yaml)")],
    days: Annotated[str, typer.Option("--days", help=f"comma-separated YYYY-MM-DD days, or {ALL_DAYS}")],
    endpoints_dir: Annotated[Path | None, typer.Option(help="directory of endpoint configs")] = None,
    sums: Annotated[list[str] | None, typer.Option("--sum", help="a numeric column to sum; repeatable")] = None,
    profile: Profile = None,
    master: Master = None,
    ui: Ui = False,
    remote: Remote = None,
) -> int:
    try:
        day_list = parse_days(days)
    except ValueError as exc:
        ctx.fail(f"--days: {exc}")
    settings, options = settings_and_options(
        f"daily_aggregate:{endpoint}", profile=profile, master=master, ui=ui, remote=remote
    )
    config = load_endpoint(endpoint_path(endpoint, endpoints_dir))
    check_sums(config, sums or [])
    assert config.table is not None
    if day_list == []:
        log.info("no day to aggregate")
        return 0
    spark = build_session(settings, options)
    try:
        run(spark, config.table.identifier, sums or [], day_list)
    finally:
        spark.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(app, argv, "daily_aggregate")


if __name__ == "__main__":
    run_main(main)
