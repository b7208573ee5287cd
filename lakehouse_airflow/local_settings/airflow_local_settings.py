"""Airflow's local-settings hook for the embedded stack (on PYTHONPATH via airflow_env).

Airflow imports a top-level `airflow_local_settings` module in every process
(scheduler, api-server, dag-processor, triggerer, CLI), which makes it the one place
to adjust the metadata DB engine before anything uses it.
"""

from lakehouse_airflow.sqlite_savepoints import install

install()

__all__: list[str] = []
