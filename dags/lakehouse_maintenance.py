"""Daily compaction and snapshot expiry of every table (see lakehouse_airflow.maintenance)."""

from lakehouse_airflow.maintenance import maintenance_dag

dag = maintenance_dag()
