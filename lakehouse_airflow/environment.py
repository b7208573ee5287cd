"""The environment Airflow runs in: built by the core (`lakehouse.engines.airflow_env`), which
the local stack and the demo use without importing this adapter; re-exported here
for the adapter's users."""

from __future__ import annotations

from lakehouse.engines.airflow_env import (
    MAX_ACTIVE_RUNS,
    PARALLELISM,
    SPARK_POOL,
    SPARK_POOL_SLOTS,
    airflow_env,
    local_settings_dir,
    spark_connection,
)

#: where `airflow_local_settings.py` lives (this package's data)
LOCAL_SETTINGS_DIR = local_settings_dir()

__all__ = [
    "LOCAL_SETTINGS_DIR",
    "MAX_ACTIVE_RUNS",
    "PARALLELISM",
    "SPARK_POOL",
    "SPARK_POOL_SLOTS",
    "airflow_env",
    "local_settings_dir",
    "spark_connection",
]
