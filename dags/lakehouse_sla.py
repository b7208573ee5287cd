"""Fails naming late endpoints and their missing slots (see lakehouse_airflow.sla)."""

from lakehouse_airflow.sla import sla_dag

dag = sla_dag()
