"""The Airflow adapter: builds the DAGs in dags/ from endpoint configs.

Only DAG files import this package; the core (`lakehouse`) never imports Airflow.
Every task body is a call into `lakehouse.pipeline.steps`, so what a task does can be
run and tested without Airflow.
"""
