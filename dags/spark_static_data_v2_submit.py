"""The original design's Spark submit DAG: a static dataset to default.static_data."""

from lakehouse_airflow.originals import static_submit

dag = static_submit()
