"""One ingest_<endpoint> DAG per file in config/endpoints/ (see lakehouse_airflow.ingest)."""

from lakehouse_airflow.ingest import build_ingest_dags

globals().update(build_ingest_dags())
