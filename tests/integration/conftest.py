"""Fixtures shared by the integration tests of several packages.

``ingested``: two slots of an endpoint ingested over the stack's Spark Connect server
(two commits, so there is history to travel back to), once per session, for the
analyst's path (tests/integration/notebooks) and the engines that read the same table
(tests/integration/lakehouse/local/test_trino.py).

Landings are written like the crawler writes them (the raw_to_table tests' ``land``);
the transform runs in a subprocess, as the Connect tests do: pyspark holds one mode per
process, and other tests of the session may own a classic SparkContext.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from lakehouse.config.settings import load_settings
from tests.conftest import ROOT
from tests.integration.landings import endpoint_doc, land
from tests.integration.spark_jobs.test_spark_raw_to_table import _trade

SLOT_A = datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
SLOT_B = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
ROWS_A, ROWS_B = 6, 4  # good records per slot; one misfit each besides

INGEST = """
import sys, yaml
from lakehouse.endpoints import EndpointConfig
from lakehouse.config.settings import load_settings
from spark_jobs import raw_to_table
from spark_jobs.session import build_session
settings = load_settings()
config = EndpointConfig.model_validate(yaml.safe_load(open(sys.argv[1])))
spark = build_session(settings)
for prefix in sys.argv[2:]:  # one run (one commit) per slot
    raw_to_table.run(spark, settings, config, [prefix])
spark.stop()
"""


@dataclass(frozen=True)
class Ingested:
    endpoint: str
    endpoints_dir: Path
    table: str
    rows: int
    first_rows: int
    quarantined: int
    slots: int


@pytest.fixture(scope="session")
def ingested(stack, spark_connect_url: str, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    settings = load_settings()
    name = f"nb_{uuid.uuid4().hex[:8]}"
    directory = tmp_path_factory.mktemp("notebook-endpoints")
    config_path = directory / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(endpoint_doc(name)))
    prefix_a = land(settings, name, SLOT_A, [[_trade(i) for i in range(ROWS_A)] + [_trade(90, price="1.123456789")]])
    prefix_b = land(settings, name, SLOT_B, [[_trade(i) for i in range(10, 10 + ROWS_B)] + [_trade(91, time=None)]])
    out = subprocess.run(
        [sys.executable, "-c", INGEST, str(config_path), prefix_a, prefix_b],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return Ingested(
        endpoint=name,
        endpoints_dir=directory,
        table=f"market.{name}",
        rows=ROWS_A + ROWS_B,
        first_rows=ROWS_A,
        quarantined=2,
        slots=2,
    )
