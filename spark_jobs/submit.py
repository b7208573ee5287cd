"""The spark-submit command line for a job, from the settings: what Airflow (client
mode) and the tests run. Nothing secret goes into it: argv is visible in ``ps``; the
driver reads the S3 keys from its environment or secret files like every component.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from lakehouse.config.settings import Settings
from lakehouse.engines.java import pyspark_home, spark_java_home
from lakehouse.engines.spark_auth import driver_conf_dir, needs_secret
from lakehouse.engines.spark_conf import AWS_SDK_ENV, SessionOptions, launch_conf

JOBS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class SubmitCommand:
    argv: list[str]
    env: dict[str, str]  # to add to the caller's environment


def job_path(name: str) -> Path:
    path = JOBS_DIR / f"{name}.py"
    if not path.is_file():
        known = sorted(p.stem for p in JOBS_DIR.glob("*.py") if not p.stem.startswith("_"))
        raise ValueError(f"no Spark job {name!r} in {JOBS_DIR}; jobs: {', '.join(known)}")
    return path


def submit_command(
    settings: Settings, job: str, job_args: list[str], options: SessionOptions | None = None
) -> SubmitCommand:
    """spark-submit in client mode (cluster mode is not supported for Python apps on a
    standalone master). The jars go in as --jars so the driver JVM has them on its
    classpath from the start; conf set later from Python would reach executors only."""
    options = options or SessionOptions(app_name=job)
    conf = launch_conf(settings, options)
    jars = conf.pop("spark.jars")
    master = conf.pop("spark.master")
    argv = [str(pyspark_home() / "bin" / "spark-submit"), "--master", master, "--deploy-mode", "client", "--jars", jars]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    # No --master for the job itself: under spark-submit, the session keeps the master
    # given here (session.session_conf), as with Airflow's SparkSubmitOperator.
    argv += [str(job_path(job)), *job_args]
    env = {
        "JAVA_HOME": spark_java_home(),
        # The driver is the Python that spark-submit starts; make it this interpreter,
        # whose environment has lakehouse and spark_jobs installed.
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "PYSPARK_DRIVER_PYTHON": os.environ.get("PYSPARK_DRIVER_PYTHON", sys.executable),
        "AWS_REGION": settings.s3.region,
        **AWS_SDK_ENV,
    }
    if needs_secret(master):
        # Spark's RPC secret, which a standalone master requires, from a private file.
        env["SPARK_CONF_DIR"] = str(driver_conf_dir(settings))
    return SubmitCommand(argv=argv, env=env)
