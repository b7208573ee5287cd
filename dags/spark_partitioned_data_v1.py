"""The original design's partitioned Spark DAG (ds, hr, min from data_interval_start)."""

from lakehouse_airflow.originals import partitioned

dag = partitioned()
