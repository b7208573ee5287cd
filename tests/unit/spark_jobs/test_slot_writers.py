"""The one place a table's writer is chosen: merge tables by Spark's MERGE INTO,
overwrite tables by settings spark.table_writer."""

from __future__ import annotations

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.endpoints import Table
from lakehouse.transform import writers
from lakehouse.transform.threads import WriteThreads
from spark_jobs.slot_writers import SparkMergeWriter, SparkOverwriteWriter, slot_writer

pytestmark = pytest.mark.unit

COLUMNS = [{"name": "id", "path": "id", "type": "long", "required": True}]


def _table(write: str) -> Table:
    extra = {"write": "merge", "primary_key": ["id"]} if write == "merge" else {}
    return Table.model_validate({"namespace": "n", "name": "t", "columns": COLUMNS, **extra})


@pytest.mark.parametrize(
    ("write", "table_writer", "expected", "name"),
    [
        ("overwrite", "arrow", writers.ArrowOverwriteWriter, "arrow"),
        ("overwrite", "spark", SparkOverwriteWriter, "spark"),
        ("merge", "arrow", SparkMergeWriter, "spark"),
        ("merge", "spark", SparkMergeWriter, "spark"),
    ],
)
def test_the_writer_follows_the_merge_mode_then_the_settings(monkeypatch, write, table_writer, expected, name):
    # The arrow writer loads its catalog when built: not reachable here, and not the point.
    monkeypatch.setattr(writers, "ArrowOverwrite", lambda settings: object())
    settings = load_settings()
    monkeypatch.setattr(settings.spark, "table_writer", table_writer)
    with WriteThreads() as threads:
        chosen = slot_writer(object(), settings, _table(write), threads)  # type: ignore[arg-type]
    assert type(chosen) is expected and chosen.name == name
