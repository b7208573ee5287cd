"""Parse every DAG file as Airflow's DAG processor would, with the network and
Airflow Variables forbidden, and print the result as JSON (run in a subprocess so
Airflow's configuration never leaks into the test session)."""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-parse-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

attempts: list[str] = []


def _no_network(self, address, *args, **kwargs):  # type: ignore[no-untyped-def]
    attempts.append(f"connect {address}")
    raise OSError(f"parse-time network I/O is forbidden (tried {address})")


socket.socket.connect = _no_network  # type: ignore[method-assign]
socket.create_connection = lambda address, *a, **k: _no_network(None, address)  # type: ignore[assignment]

from airflow.dag_processing.dagbag import DagBag  # noqa: E402
from airflow.sdk import Variable  # noqa: E402


def _no_variables(*args, **kwargs):  # type: ignore[no-untyped-def]
    attempts.append(f"Variable.get {args}")
    raise RuntimeError("Variable.get at parse time is forbidden")


Variable.get = staticmethod(_no_variables)  # type: ignore[method-assign]

bag = DagBag(dag_folder=sys.argv[1])
print(
    json.dumps(
        {
            "dag_ids": sorted(bag.dag_ids),
            "import_errors": {os.path.basename(k): v for k, v in bag.import_errors.items()},
            "stats": [
                {"file": s.file, "seconds": s.duration.total_seconds(), "dags": s.dag_num} for s in bag.dagbag_stats
            ],
            "io_attempts": attempts,
            "paused": {d: bag.dags[d].is_paused_upon_creation for d in bag.dag_ids},
        }
    )
)
