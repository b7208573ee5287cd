"""Schema evolution on the real stack: an endpoint's config file changes between runs.

An added column and allowed widenings are applied by the next run of the Spark job
(and recorded in its snapshot summary); a narrowing is refused by `lakehouse validate`
against the live catalog table, naming the file, the field and how to migrate, and by
the Spark job before it changes anything.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from lakehouse.endpoints import load_endpoint
from lakehouse.tables.catalog import load_catalog
from lakehouse.tables.schema_evolution import SUMMARY_KEY
from spark_jobs import raw_to_table
from spark_jobs.table_evolution import TableSchemaMismatchError
from spark_jobs.tables import quote
from tests.conftest import ROOT
from tests.integration.landings import endpoint_doc, land

pytestmark = pytest.mark.usefixtures("table_writer")

SLOT_A = datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
SLOT_B = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


def _validate(directory: Path) -> subprocess.CompletedProcess[str]:
    """The installed `lakehouse validate`, which sees this session's stack through LAKEHOUSE_*."""
    return subprocess.run(
        [sys.executable, "-c", "from lakehouse.cli import main; main()", "validate", "--dir", str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_added_and_widened_columns_evolve_the_table_and_a_narrowing_is_refused(
    spark, spark_settings, tmp_path: Path
) -> None:
    name = f"ev_{uuid.uuid4().hex[:8]}"
    file = tmp_path / f"{name}.yaml"
    columns = [
        {"name": "trade_id", "path": "id", "type": "long", "required": True},
        {"name": "qty", "path": "qty", "type": "int"},
        {"name": "price", "path": "price", "type": "decimal(10,2)"},
    ]
    file.write_text(yaml.safe_dump(endpoint_doc(name, columns=columns)))
    first = raw_to_table.run(
        spark,
        spark_settings,
        load_endpoint(file),
        [land(spark_settings, name, SLOT_A, [[{"id": 1, "qty": 5, "price": "1.50", "note": "ignored"}]])],
    )
    assert first.evolution == ""

    # v2: a new column, int -> long, decimal precision up.
    columns[1]["type"] = "long"
    columns[2]["type"] = "decimal(12,2)"
    columns.append({"name": "note", "path": "note", "type": "string"})
    file.write_text(yaml.safe_dump(endpoint_doc(name, columns=columns)))
    checked = _validate(tmp_path)
    assert checked.returncode == 0, checked.stderr
    applied = "added note string; widened qty int -> long; widened price decimal(10,2) -> decimal(12,2)"
    assert f"live  market.{name}: the next run evolves it: {applied}" in checked.stdout
    big = 2**40
    second = raw_to_table.run(
        spark,
        spark_settings,
        load_endpoint(file),
        [land(spark_settings, name, SLOT_B, [[{"id": 2, "qty": big, "price": "1234567890.25", "note": "hi"}]])],
    )

    assert second.evolution == applied
    table = spark.table(quote(first.table))
    types = dict(table.dtypes)
    assert (types["qty"], types["price"], types["note"]) == ("bigint", "decimal(12,2)", "string")
    rows = {r.trade_id: (r.qty, r.price, r.note) for r in table.collect()}
    assert rows == {1: (5, Decimal("1.50"), None), 2: (big, Decimal("1234567890.25"), "hi")}, "old rows read NULL"
    summary = load_catalog(spark_settings).load_table(first.table).current_snapshot().summary  # type: ignore[union-attr]
    assert summary.additional_properties[SUMMARY_KEY] == applied

    # v3: qty back to int is a narrowing; and an overwrite table cannot become a merge table.
    columns[1]["type"] = "int"
    doc = endpoint_doc(name, columns=columns)
    doc["table"].update(write="merge", primary_key=["trade_id"])
    file.write_text(yaml.safe_dump(doc))
    refused = _validate(tmp_path)
    assert refused.returncode == 1
    assert (
        f"error  {file}: table.columns[1].type: column 'qty' is long in the live table market.{name} "
        "and int here: a narrowing"
    ) in refused.stderr
    assert "to migrate, declare a new table name (table.name) and rebuild it from raw" in refused.stderr
    assert f"{file}: table.write: the live table market.{name} is written with write: overwrite" in refused.stderr
    with pytest.raises(TableSchemaMismatchError, match="'qty' is long in the live table"):
        raw_to_table.run(
            spark, spark_settings, load_endpoint(file), [land(spark_settings, name, SLOT_B, [[{"id": 3}]])]
        )
    assert dict(spark.table(quote(first.table)).dtypes)["qty"] == "bigint", "the refused run changed nothing"
