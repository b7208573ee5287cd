"""Airflow tasks for the jobs in spark_jobs/, configured from settings.

``spark.engine`` picks the operator: ``connect`` (the default) runs the job in the
task's own process as a Spark Connect client of the long-lived server; ``submit``
runs spark-submit in client mode through the ``spark_default`` connection.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseOperator, task

from lakehouse.config import paths
from lakehouse.config.settings import Settings, load_settings
from lakehouse.engines.airflow_env import SPARK_POOL
from lakehouse.engines.engine import ensure_engine
from lakehouse.engines.spark_conf import SessionOptions, launch_conf
from lakehouse.engines.spark_jobs_runner import run_spark_job

log = logging.getLogger(__name__)


def _application(job: str) -> str:
    return str(paths.PROJECT_ROOT / "spark_jobs" / f"{job}.py")


def spark_submit(task_id: str, job: str, args: Sequence[str], settings: Settings) -> SparkSubmitOperator:
    """Submit `spark_jobs/<job>.py` in client mode through the `spark_default` connection.

    The launch conf (jars, Iceberg catalog, extensions) comes from the same core
    function the jobs use for a direct run; it carries no secrets: the job sets the S3
    keys at runtime from the lakehouse settings in its environment.
    """

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


def run_on_connect(job: str, job_args: Sequence[str]) -> None:
    """The body of a Connect transform task, in the task's process.

    Settings are read when the task runs (never at parse time). In the local profile
    :func:`lakehouse.engines.engine.ensure_engine` first brings a dead server back, so an
    attempt that failed because the server died (SparkEngineUnavailableError) succeeds
    on Airflow's retry. The token is added to the connection string inside the job's
    session factory only; the URL logged here has none.
    """

    settings = load_settings()
    ensure_engine(settings)
    # The task process is the Spark Connect client; the Spark adapter's runner comes
    # through the core's entry point, so this adapter imports no spark_jobs code.

    log.info("running spark_jobs/%s.py on the Spark Connect server at %s", job, settings.spark.connect_url)
    code = run_spark_job(job, list(job_args), settings)
    if code != 0:
        raise RuntimeError(f"spark_jobs/{job}.py exited with status {code}")


def spark_connect(task_id: str, job: str, args: Sequence[str]) -> BaseOperator:
    """A TaskFlow task that runs `spark_jobs/<job>.py` as a Spark Connect client.

    The arguments (templated: an XCom in them is rendered by Airflow) reach the job's
    argv as a list, never through shell text; the server holds the jars, the catalog
    conf and the S3 keys, so the task carries none.
    """

    @task(task_id=task_id, do_xcom_push=False)
    def connect_job(job_args: list[str]) -> None:
        run_on_connect(job, job_args)

    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    called = connect_job(list(args))
    # A plain (unmapped) @task call: its operator is the task itself.
    assert isinstance(called, PlainXComArg) and isinstance(called.operator, BaseOperator)
    return called.operator


def spark_job(task_id: str, job: str, args: Sequence[str], settings: Settings) -> BaseOperator:
    """The per-slot path: on the Spark Connect server when `spark.engine` is connect (no
    driver JVM to start per task), else spark-submit. Same job code."""

    operator = (
        spark_connect(task_id, job, args)
        if settings.spark.engine == "connect"
        else spark_submit(task_id, job, args, settings)
    )
    # One engine serves every transform; the pool queues a backfill's transforms in
    # Airflow instead of piling them onto the engine all at once.
    operator.pool = SPARK_POOL
    return operator
