"""Surfaces broken endpoint configs as an import error naming file and field, in a
file of its own so the valid endpoints' DAGs still load. Defines no DAG."""

from lakehouse_airflow.ingest import raise_config_errors

raise_config_errors()
