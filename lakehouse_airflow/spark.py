"""Airflow tasks for the jobs in spark_jobs/, configured from settings."""

from __future__ import annotations

import shlex
import sys
from typing import Sequence

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import BaseOperator

from lakehouse import paths
from lakehouse.settings import Settings


def _application(job: str) -> str:
    return str(paths.PROJECT_ROOT / "spark_jobs" / f"{job}.py")


def spark_submit(task_id: str, job: str, args: Sequence[str], settings: Settings) -> SparkSubmitOperator:
    """Submit `spark_jobs/<job>.py` in client mode through the `spark_default` connection.

    The launch conf (jars, Iceberg catalog, extensions) comes from the same function
    the jobs use for a direct run; it carries no secrets: the job sets the S3 keys at
    runtime from the lakehouse settings in its environment.
    """
    from spark_jobs.session import SessionOptions, launch_conf

    # Not verified here: this runs at every DAG parse, and the job's session checks
    # the jars (and names a missing one) when the task runs.
    conf = launch_conf(settings, SessionOptions(app_name=task_id), verify=False)
    conf.pop("spark.master")  # the connection's master wins, as an operator expects
    return SparkSubmitOperator(
        task_id=task_id,
        application=_application(job),
        application_args=list(args),
        conf=conf,
        conn_id="spark_default",
        name=task_id,
    )


def spark_connect(task_id: str, job: str, args: Sequence[str], url: str) -> BashOperator:
    """Run `spark_jobs/<job>.py --remote <url>` as a Spark Connect client.

    Its own process, because pyspark 3.5 cannot hold a Connect session next to a
    classic SparkContext (and `airflow dags test` runs tasks in one process). The
    server holds the jars, the catalog conf and the S3 keys, so the client gets none.
    Arguments travel as environment variables and are expanded by the shell inside
    double quotes, so a rendered value (an XCom) can never be read as shell syntax.
    """
    env = {f"LAKEHOUSE_JOB_ARG_{i}": value for i, value in enumerate(args)}
    argv = " ".join(f'"${name}"' for name in env)
    command = f"exec {shlex.quote(sys.executable)} {shlex.quote(_application(job))} {argv} --remote {shlex.quote(url)}"
    return BashOperator(task_id=task_id, bash_command=command, env=env, append_env=True)


def spark_job(task_id: str, job: str, args: Sequence[str], settings: Settings) -> BaseOperator:
    """The per-slot path: on the stack's Spark Connect server when `spark.connect_url`
    is set (no driver JVM to start per task), else spark-submit. Same job code."""
    if settings.spark.connect_url:
        return spark_connect(task_id, job, args, settings.spark.connect_url)
    return spark_submit(task_id, job, args, settings)
