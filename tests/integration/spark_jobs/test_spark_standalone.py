"""A job submitted in client mode to a standalone master + worker on loopback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from lakehouse.config.settings import Settings
from lakehouse.engines.spark_auth import ui_headers
from lakehouse.local.services import spark_server
from lakehouse.local.stack import OPTIONAL_SERVICES, LocalStack
from lakehouse.tables.catalog import load_catalog
from spark_jobs.session import SessionOptions
from spark_jobs.static_data import ROWS
from spark_jobs.submit import submit_command
from tests.conftest import free_port
from tests.spark_rpc import spark_rpc_refused


@pytest.fixture(scope="module")
def cluster(
    spark_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[spark_server.SparkClusterOptions]:
    cluster_options = spark_server.SparkClusterOptions(
        master_port=free_port(),
        master_webui_port=free_port(),
        worker_port=free_port(),
        worker_webui_port=free_port(),
        worker_cores=1,
        worker_memory="1g",
    )
    # Its own state dir: stopping this stack must not stop the session's Redis/S3/Nessie.
    state_dir: Path = tmp_path_factory.mktemp("spark-cluster")
    settings = spark_settings.model_copy(
        update={
            "local": spark_settings.local.model_copy(update={"state_dir": state_dir, "spark_cluster": cluster_options})
        }
    )
    stack = LocalStack(settings, services=OPTIONAL_SERVICES["spark"])
    stack.up()
    try:
        yield cluster_options
    finally:
        stack.down()


def test_a_job_runs_on_the_standalone_cluster_in_client_mode(spark_settings, cluster, table_suffix):
    master = spark_server.master_url(spark_settings, cluster)
    assert master.startswith("spark://127.0.0.1:")
    table = f"default.cluster_{table_suffix}"
    # The settings say local[2]; this run goes to the cluster.
    cmd = submit_command(
        spark_settings, "static_data", ["--table", table], SessionOptions("static_data", master=master)
    )

    done = subprocess.run(cmd.argv, env={**os.environ, **cmd.env}, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-4000:]
    _, secret = spark_settings.s3.require_credentials()
    assert secret not in done.stdout + done.stderr
    ui = f"http://127.0.0.1:{cluster.master_webui_port}/json/"
    apps = requests.get(ui, headers=ui_headers(spark_settings.spark.require_auth_secret()), timeout=5).json()[
        "completedapps"
    ]
    assert any(app["name"] == "static_data" for app in apps), "the app must have run on the standalone master"
    rows = load_catalog(spark_settings).load_table(table).scan().to_arrow()
    assert sorted(rows.column("symbol").to_pylist()) == sorted(r[0] for r in ROWS)


def test_the_master_and_the_worker_refuse_an_anonymous_client(spark_settings, cluster):
    """spark.authenticate on both daemons (their secret from a private conf file): an RPC
    without the handshake is refused, and so is a web UI request without the token;
    the job above, which holds the secret, ran."""
    refused = {port: spark_rpc_refused(port) for port in (cluster.master_port, cluster.worker_port)}
    print(refused)
    secret = spark_settings.spark.require_auth_secret()
    # Their web UIs (the master's can kill applications) want the token made from it.
    for port in (cluster.master_webui_port, cluster.worker_webui_port):
        url = f"http://127.0.0.1:{port}/json/"
        assert requests.get(url, timeout=10).status_code == 403, url
        forged = requests.get(url, headers=ui_headers("not-the-secret"), timeout=10)
        assert forged.status_code == 403, url
        assert requests.get(url, headers=ui_headers(secret), timeout=10).status_code == 200, url
    for proc in psutil.process_iter(["cmdline"]):
        assert not any(secret in part for part in proc.info["cmdline"] or []), "Spark's secret on a command line"


OTHER_PYTHON = Path("/root/.pyenv/versions/3.12.1/bin/python3.12")


@pytest.mark.skipif(not OTHER_PYTHON.exists(), reason="needs a second Python minor version for the workers")
def test_a_worker_python_mismatch_fails_up_front_with_both_versions(spark_settings, cluster):
    master = spark_server.master_url(spark_settings, cluster)
    cmd = submit_command(
        spark_settings, "static_data", ["--table", "default.never_written"], SessionOptions("mismatch", master=master)
    )
    env = {**os.environ, **cmd.env, "PYSPARK_PYTHON": str(OTHER_PYTHON)}

    done = subprocess.run(cmd.argv, env=env, capture_output=True, text=True, timeout=300)

    # spark-submit hands the Python driver's stderr to its stdout.
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert "error: PythonVersionMismatchError: the Spark driver runs Python 3.11 but the workers" in output
    assert "run Python 3.12" in output
