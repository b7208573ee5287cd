"""One SparkSession (local mode) for every Spark integration test, on the shared stack.

A JVM with the Iceberg jars takes seconds to start, and pyspark allows one
SparkContext per process, so the session is shared; tests keep apart by table name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from lakehouse.config.settings import Settings, load_settings
from spark_jobs.session import SessionOptions, build_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.local.stack import LocalStack


@pytest.fixture(scope="session")
def spark_settings(stack: LocalStack) -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Iterator[SparkSession]:
    session = build_session(spark_settings, SessionOptions(app_name="lakehouse-tests", master="local[2]"))
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture()
def table_suffix() -> str:
    """Tables are kept between tests in the shared catalog: give each test its own."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(params=["arrow", "spark"])
def table_writer(request: pytest.FixtureRequest, spark_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once per writer of overwrite tables (settings spark.table_writer);
    a module takes it with ``pytestmark = pytest.mark.usefixtures("table_writer")``."""
    monkeypatch.setattr(spark_settings.spark, "table_writer", request.param)
    return str(request.param)
