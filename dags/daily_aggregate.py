"""Example downstream DAG: an endpoint table's daily aggregate, scheduled on its Asset
(see lakehouse_airflow.downstream; the endpoint is airflow.daily_aggregate_endpoint)."""

from lakehouse_airflow.downstream import daily_aggregate_dag

dag = daily_aggregate_dag(sums=["qty", "quote_qty"])
