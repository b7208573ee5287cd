"""The environment Airflow runs in, derived from the lakehouse settings.

Airflow's own conventions carry what its operators need: the `spark_default`
connection (SparkSubmitOperator) as an AIRFLOW_CONN_* variable, plus the Spark
driver's environment. The ingestion tasks themselves read the typed lakehouse
settings (LAKEHOUSE_* and secret files), so there is one source of truth.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from lakehouse import paths
from lakehouse.settings import Settings

LOCAL_SETTINGS_DIR = Path(__file__).parent / "local_settings"


def spark_connection(settings: Settings) -> str:
    return json.dumps(
        {
            "conn_type": "spark",
            "host": settings.spark.master,
            # Client mode: cluster mode is not supported for Python apps on standalone.
            "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"},
        }
    )


def airflow_env(settings: Settings, airflow_home: Path) -> dict[str, str]:
    """Variables for every Airflow process (scheduler, dag-processor, `dags test`)."""
    from lakehouse.local.java import spark_java_home

    venv_bin = str(Path(sys.executable).parent)
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(paths.PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # Several components, CLI commands and `dags test` write one SQLite file; the
        # driver's 5 s busy timeout is too short next to a busy scheduler.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}?timeout=60",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
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
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(LOCAL_SETTINGS_DIR), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
