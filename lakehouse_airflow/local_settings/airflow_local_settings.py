"""Airflow's local-settings hook for the embedded stack (on PYTHONPATH via airflow_env).

Airflow imports a top-level `airflow_local_settings` module in every process
(scheduler, api-server, dag-processor, triggerer, CLI), which makes it the one place
to adjust the metadata DB engine before anything uses it.
"""

import sys

from lakehouse_airflow.sqlite_savepoints import install

install()

if sys.argv[1:2] == ["scheduler"]:
    # Task processes fork from the scheduler's executor workers: load what tasks
    # import once, here (see lakehouse.engines.airflow_env.PRELOAD_MODULES).
    from lakehouse.engines.airflow_env import preload_for_tasks

    preload_for_tasks()

__all__: list[str] = []
