"""The original design's hello DAG (scheduler and worker health)."""

from lakehouse_airflow.originals import skeleton

dag = skeleton()
