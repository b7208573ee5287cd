"""The environment Airflow runs in, derived from the lakehouse settings.

Engine-free: builds strings and paths only, and imports neither Airflow nor the
Airflow adapter (`lakehouse_airflow`), so the local stack and the demo (core code)
can launch Airflow without importing adapter code.

Airflow's own conventions carry what its operators need: the `spark_default`
connection (SparkSubmitOperator) as an AIRFLOW_CONN_* variable, plus the Spark
driver's environment. The ingestion tasks themselves read the typed lakehouse
settings (LAKEHOUSE_* and secret files), so there is one source of truth.

Sizing for a small machine (2 cores, LocalExecutor, SQLite), so that a backfill's
runs overlap without starving the scheduler:

- the executor runs at most PARALLELISM task processes; LocalExecutor forks that
  many workers up front (Airflow's default of 32 costs a minute of CPU on 2 cores);
- transforms share one Spark engine: they run in the SPARK_POOL pool of
  SPARK_POOL_SLOTS slots (AirflowService creates it), so a backfill queues its
  transforms there instead of piling JVMs or Connect sessions onto two cores while
  the light tasks of other runs wait for executor slots;
- the scheduler loops again after SCHEDULER_IDLE_SLEEP_SECONDS when it had nothing
  to do (Airflow's default is 1 s): a finished task's successor is queued within a
  fraction of a second, which is most of a slot's latency when its tasks take ~1 s;
- one DAG-file parsing process, re-parsing every DAG_REPARSE_SECONDS: parsing is CPU
  the tasks need.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import lakehouse
from lakehouse.config import paths
from lakehouse.config.settings import Settings
from lakehouse.engines.java import spark_java_home
from lakehouse.engines.spark_auth import driver_conf_dir, needs_secret

#: the adapter package whose data holds `airflow_local_settings.py`
ADAPTER_PACKAGE = "lakehouse_airflow"

PARALLELISM = 8
SPARK_POOL = "spark"
SPARK_POOL_SLOTS = 2
SPARK_POOL_DESCRIPTION = "transforms on the one Spark engine of the stack"
#: the most runs of one ingest DAG at a time (scheduled and manual runs; a backfill
#: has its own max_active_runs, which the UI caps at the DAG's)
MAX_ACTIVE_RUNS = 8
SCHEDULER_IDLE_SLEEP_SECONDS = 0.2
DAG_REPARSE_SECONDS = 30


#: Imported once by the scheduler (the airflow_local_settings hook) before its
#: LocalExecutor forks the worker processes: every task process is forked from a
#: worker, so it starts with these loaded instead of importing them itself (about a
#: CPU-second per catalog task, which on 2 cores is most of the task). Engine clients
#: only; never pyspark or grpc (not safe to fork once loaded), nor Airflow itself.
PRELOAD_MODULES: tuple[str, ...] = (
    "lakehouse.pipeline.steps",
    "lakehouse.tables.signals",
    "lakehouse.tables.catalog",
    "lakehouse.queue.crawl_queue",
    "lakehouse.raw.storage",
    "pyiceberg.catalog.rest",
    "pyiceberg.table",
    "pyiceberg.io.fsspec",
    "pyiceberg.io.pyarrow",
    "s3fs",
)


def preload_for_tasks() -> list[str]:
    """Import PRELOAD_MODULES; returns those that could not be imported (a missing
    optional library must never keep the scheduler from starting)."""
    import importlib

    failed = []
    for name in PRELOAD_MODULES:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    return failed


def local_settings_dir() -> Path:
    """The directory of the adapter's `airflow_local_settings.py` (package data of
    lakehouse_airflow), found without importing the adapter.

    Beside the core package, where one distribution installs both (site-packages, or
    the source tree for an editable install). Not ``find_spec("lakehouse_airflow")``:
    under pytest, ``tests/integration/lakehouse_airflow`` (a test package of the same
    name) is found first, so every Airflow process the tests started went without the
    SQLite savepoint hook and backfills hit "database is locked".
    """
    return Path(lakehouse.__file__).resolve().parent.parent / ADAPTER_PACKAGE / "local_settings"


def spark_connection(settings: Settings) -> str:
    return json.dumps(
        {
            "conn_type": "spark",
            "host": settings.spark.master,
            # Client mode: cluster mode is not supported for Python apps on standalone.
            "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"},
        }
    )


def lineage_file(settings: Settings, airflow_home: Path) -> Path:
    """Where the ``file`` transport writes OpenLineage events (one JSON per line)."""
    return settings.lineage.file_path or airflow_home / "openlineage" / "events.jsonl"


def openlineage_env(settings: Settings, airflow_home: Path) -> dict[str, str]:
    """The OpenLineage provider's configuration, from ``settings.lineage``.

    The file transport appends one event per line: each is a single write(2) to an
    O_APPEND file, so the scheduler's DAG-run events and the task processes' events do
    not interleave on a local disk. Source code facets are off: a TaskFlow task's
    source says nothing a lineage reader needs and makes every event kilobytes larger.
    """
    lineage = settings.lineage
    if lineage.transport == "none":
        return {"AIRFLOW__OPENLINEAGE__DISABLED": "True"}
    transport: dict[str, object]
    if lineage.transport == "file":
        path = lineage_file(settings, airflow_home)
        path.parent.mkdir(parents=True, exist_ok=True)
        transport = {"type": "file", "log_file_path": str(path), "append": True}
    elif lineage.transport == "http":
        transport = {"type": "http", "url": lineage.url}
    else:
        transport = {"type": "console"}
    return {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": lineage.namespace,
        "AIRFLOW__OPENLINEAGE__DISABLE_SOURCE_CODE": "True",
    }


def airflow_env(settings: Settings, airflow_home: Path) -> dict[str, str]:
    """Variables for every Airflow process (scheduler, dag-processor, `dags test`)."""

    venv_bin = str(Path(sys.executable).parent)
    spark_auth: dict[str, str] = {}
    if needs_secret(settings.spark.master) and settings.spark.auth_secret is not None:
        # A submitted task's driver joins a standalone cluster with Spark's RPC secret,
        # from a private spark-defaults.conf (lakehouse.engines.spark_auth), never argv.
        spark_auth["SPARK_CONF_DIR"] = str(driver_conf_dir(settings))
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(paths.PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # Several components, CLI commands and `dags test` write one SQLite file; the
        # driver's 5 s busy timeout is too short next to a busy scheduler.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}?timeout=60",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": str(SCHEDULER_IDLE_SLEEP_SECONDS),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(DAG_REPARSE_SECONDS),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(DAG_REPARSE_SECONDS),
        "AIRFLOW__API__HOST": settings.local.bind_host,
        "AIRFLOW__API__PORT": str(settings.airflow.api_port),
        "AIRFLOW_CONN_SPARK_DEFAULT": spark_connection(settings),
        # spark-submit (client mode) makes the task process the Spark driver.
        "JAVA_HOME": spark_java_home(),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "LAKEHOUSE_PROFILE": settings.profile,
        # Airflow imports `airflow_local_settings` from sys.path in every process; ours
        # fixes SQLite savepoint locking (see lakehouse_airflow/sqlite_savepoints.py).
        "PYTHONPATH": os.pathsep.join(p for p in (str(local_settings_dir()), os.environ.get("PYTHONPATH", "")) if p),
        # Lineage of every task (raw prefix in, tables out): lakehouse_airflow/lineage.py.
        **openlineage_env(settings, airflow_home),
        **spark_auth,
    }
