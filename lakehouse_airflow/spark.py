"""SparkSubmitOperator tasks for the jobs in spark_jobs/, configured from settings."""

from __future__ import annotations

from typing import Sequence

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from lakehouse import paths
from lakehouse.settings import Settings


def spark_submit(task_id: str, job: str, args: Sequence[str], settings: Settings, **kwargs) -> SparkSubmitOperator:
    """Submit `spark_jobs/<job>.py` in client mode through the `spark_default` connection.

    The launch conf (jars, Iceberg catalog, extensions) comes from the same function
    the jobs use for a direct run; it carries no secrets: the job sets the S3 keys at
    runtime from the lakehouse settings in its environment.
    """
    from spark_jobs.session import SessionOptions, launch_conf

    conf = launch_conf(settings, SessionOptions(app_name=f"{task_id}"))
    conf.pop("spark.master")  # the connection's master wins, as an operator expects
    return SparkSubmitOperator(
        task_id=task_id,
        application=str(paths.PROJECT_ROOT / "spark_jobs" / f"{job}.py"),
        application_args=list(args),
        conf=conf,
        conn_id="spark_default",
        name=task_id,
        **kwargs,
    )
