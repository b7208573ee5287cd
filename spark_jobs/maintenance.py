"""Daily table maintenance: compact small files, then expire old snapshots.

    spark-submit spark_jobs/maintenance.py                      # every table of every namespace
    spark-submit spark_jobs/maintenance.py --table market.sandbox_trades --retain-last 20

A 15-minute slot writes one small file per partition, 96 partitions a day, and every
write adds a snapshot; compaction keeps scans cheap and expiry keeps metadata small.

Snapshot expiry and Nessie: Iceberg's expire_snapshots deletes the files only expired
snapshots use, but Nessie's commits, branches and tags may still point at them. So
Nessie creates its tables with ``gc.enabled=false`` (Iceberg then refuses any expiry)
and serves table metadata holding only the current snapshot: the history lives in
Nessie's commit log, and Nessie GC is the tool that deletes unreferenced files. This
job therefore runs the expire_snapshots procedure only on tables with GC enabled
(another catalog, or a table an operator opted in) and reports the rest as left to
Nessie GC.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from lakehouse.config.settings import Settings
from lakehouse.tables.bootstrap import required_namespaces
from spark_jobs.cli import Master, Profile, Remote, Ui, job_app, run_app, run_main, settings_and_options
from spark_jobs.session import build_session
from spark_jobs.tables import quote_parts, sql_string

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MaintenancePolicy:
    # Compact a partition once it has this many files (Iceberg's default is 5).
    min_input_files: int = 5
    # None: the table's write.target-file-size-bytes (512 MB by default).
    target_file_size_bytes: int | None = None
    expire: bool = True
    expire_older_than: timedelta = timedelta(days=7)
    # Time travel and in-flight readers need some history regardless of age.
    retain_last: int = 10


@dataclass(frozen=True)
class MaintenanceResult:
    table: str
    rewritten_files: int
    added_files: int
    expired_snapshots: int | None  # None: expiry not run
    # None: files left to Nessie GC (metadata-only expiry) or expiry not run.
    deleted_data_files: int | None


# A table as the parts of its name: a name the catalog lists may hold a dot or a
# backtick, so it is never joined into one string and split again.
TableName = tuple[str, ...]


def table_name(identifier: str) -> TableName:
    """``ns.table`` as given on the command line (config-validated names: no dots inside)."""
    return tuple(identifier.split("."))


def display(table: TableName) -> str:
    return ".".join(table)


def list_tables(spark: SparkSession, settings: Settings) -> list[TableName]:
    """Every table in the configured and endpoint-declared namespaces."""
    tables = []
    for namespace in required_namespaces(settings):
        parts = table_name(namespace)
        for row in spark.sql(f"SHOW TABLES IN {quote_parts(*parts)}").collect():
            tables.append((*parts, row.tableName))
    return tables


def compact(spark: SparkSession, settings: Settings, table: TableName, policy: MaintenancePolicy) -> tuple[int, int]:
    options = {"min-input-files": str(policy.min_input_files)}
    if policy.target_file_size_bytes is not None:
        options["target-file-size-bytes"] = str(policy.target_file_size_bytes)
    option_map = ", ".join(f"{sql_string(k)}, {sql_string(v)}" for k, v in options.items())
    # The procedure parses its table argument as a multipart identifier: quoted parts
    # inside a string literal.
    row = spark.sql(
        f"CALL {quote_parts(settings.catalog.name)}.system.rewrite_data_files("
        f"table => {sql_string(quote_parts(*table))}, options => map({option_map}))"
    ).first()
    return (row.rewritten_data_files_count, row.added_data_files_count) if row else (0, 0)


def _snapshot_count(spark: SparkSession, table: TableName) -> int:
    row = spark.sql(f"SELECT count(*) AS n FROM {quote_parts(*table, 'snapshots')}").first()
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return int(row.n)


def _gc_enabled(spark: SparkSession, table: TableName) -> bool:
    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {quote_parts(*table)}").collect()}
    return props.get("gc.enabled", "true").lower() == "true"


def expire(
    spark: SparkSession, settings: Settings, table: TableName, policy: MaintenancePolicy, now: datetime
) -> tuple[int, int | None]:
    """Expire old snapshots; returns (snapshots expired, data files deleted or None)."""
    cutoff = now - policy.expire_older_than
    if not _gc_enabled(spark, table):
        log.info("%s: gc.enabled=false (a Nessie table): history and file deletion are Nessie GC's job", display(table))
        return 0, None
    before = _snapshot_count(spark, table)
    stamp = cutoff.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    row = spark.sql(
        f"CALL {quote_parts(settings.catalog.name)}.system.expire_snapshots("
        f"table => {sql_string(quote_parts(*table))}, older_than => TIMESTAMP {sql_string(stamp)}, "
        f"retain_last => {policy.retain_last})"
    ).first()
    return before - _snapshot_count(spark, table), (row.deleted_data_files_count if row else 0)


def run(
    spark: SparkSession,
    settings: Settings,
    tables: Sequence[str | TableName] | None = None,
    policy: MaintenancePolicy | None = None,
    now: datetime | None = None,
) -> list[MaintenanceResult]:
    """Compact, then expire, each table (default: all). Compaction first, so the
    snapshots it supersedes can age out in a later run."""
    policy = policy or MaintenancePolicy()
    now = now or datetime.now(UTC)
    results = []
    names = [table_name(t) if isinstance(t, str) else t for t in tables] if tables is not None else None
    for table in names if names is not None else list_tables(spark, settings):
        rewritten, added = compact(spark, settings, table, policy)
        expired, deleted = expire(spark, settings, table, policy, now) if policy.expire else (None, None)
        log.info(
            "%s: compacted %d files into %d; expired %s snapshots, deleted %s data files",
            display(table),
            rewritten,
            added,
            expired,
            "(left to Nessie GC)" if deleted is None else deleted,
        )
        results.append(MaintenanceResult(display(table), rewritten, added, expired, deleted))
    return results


app = job_app(__doc__)


@app.command()
def _maintenance(
    tables: Annotated[
        list[str] | None, typer.Option("--table", help="ns.table; repeatable (default: all tables)")
    ] = None,
    min_input_files: Annotated[int, typer.Option()] = MaintenancePolicy.min_input_files,
    older_than_days: Annotated[float, typer.Option()] = MaintenancePolicy.expire_older_than.days,
    retain_last: Annotated[int, typer.Option()] = MaintenancePolicy.retain_last,
    no_expire: Annotated[bool, typer.Option("--no-expire", help="compact only")] = False,
    profile: Profile = None,
    master: Master = None,
    ui: Ui = False,
    remote: Remote = None,
) -> int:
    settings, options = settings_and_options("maintenance", profile=profile, master=master, ui=ui, remote=remote)
    policy = MaintenancePolicy(
        min_input_files=min_input_files,
        expire=not no_expire,
        expire_older_than=timedelta(days=older_than_days),
        retain_last=retain_last,
    )
    spark = build_session(settings, options)
    try:
        # No --table: every table (an empty list would mean none).
        run(spark, settings, tables or None, policy)
    finally:
        spark.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_app(app, argv, "maintenance")


if __name__ == "__main__":
    run_main(main)
