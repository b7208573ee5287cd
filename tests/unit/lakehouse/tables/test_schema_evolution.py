from __future__ import annotations

from typing import Any

import pytest

from lakehouse.endpoints import Table
from lakehouse.tables.schema_evolution import from_iceberg, from_spark, is_widening, plan, write_properties

pytestmark = pytest.mark.unit

LINEAGE = {"_run_id": "string", "_ingested_at": "timestamp", "ds": "string", "hr": "int", "min": "int"}


def table(*columns: tuple[str, str], **extra: Any) -> Table:
    return Table.model_validate(
        {
            "namespace": "market",
            "name": "t",
            "columns": [{"name": n, "path": n, "type": t} for n, t in columns],
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("old", "new", "widening"),
    [
        ("int", "long", True),
        ("float", "double", True),
        ("decimal(10,2)", "decimal(12,2)", True),
        ("long", "int", False),
        ("double", "float", False),
        ("decimal(12,2)", "decimal(10,2)", False),
        ("decimal(10,2)", "decimal(12,4)", False),  # Iceberg never changes a scale
        ("int", "double", False),
        ("int", "string", False),
        ("date", "timestamp", False),
    ],
)
def test_only_icebergs_promotions_are_widenings(old: str, new: str, widening: bool) -> None:
    assert is_widening(old, new) is widening


def test_both_engines_types_read_as_the_configs_names() -> None:
    assert [from_iceberg(t) for t in ("long", "int", "decimal(18, 8)", "timestamptz", "timestamp")] == [
        "long",
        "int",
        "decimal(18,8)",
        "timestamp",
        "timestamp_ntz",
    ]
    assert [from_spark(t) for t in ("bigint", "int", "decimal(18,8)", "timestamp", "string")] == [
        "long",
        "int",
        "decimal(18,8)",
        "timestamp",
        "string",
    ]


def test_an_added_column_and_a_widening_are_planned_in_one_line() -> None:
    live = {"id": "long", "qty": "int", "price": "decimal(10,2)", **LINEAGE}
    changes = plan(live, table(("id", "long"), ("qty", "long"), ("price", "decimal(14,2)"), ("note", "string")))
    assert not changes.refusals
    assert [c.name for c in changes.additions] == ["note"]
    assert [(w.column.name, w.old_type) for w in changes.widenings] == [("qty", "int"), ("price", "decimal(10,2)")]
    assert (
        changes.describe() == "added note string; widened qty int -> long; widened price decimal(10,2) -> decimal(14,2)"
    )


def test_the_same_columns_plan_nothing() -> None:
    changes = plan({"id": "long", **LINEAGE}, table(("id", "long")))
    assert not changes.changes and not changes.refusals and changes.describe() == ""


def test_a_narrowing_is_refused_with_the_field_and_how_to_migrate() -> None:
    (refusal,) = plan({"id": "long", "qty": "long"}, table(("id", "long"), ("qty", "int"))).refusals
    assert refusal.field == "table.columns[1].type"
    assert "'qty' is long in the live table market.t and int here: a narrowing" in refusal.message
    assert "to migrate, declare a new table name" in refusal.message and "raw_to_table --from/--to" in refusal.message


def test_a_change_iceberg_cannot_apply_is_refused() -> None:
    (refusal,) = plan({"id": "long"}, table(("id", "string"))).refusals
    assert "a type change Iceberg cannot apply in place" in refusal.message


def test_a_rename_is_refused_and_says_how_to_rename() -> None:
    changes = plan({"id": "long", "qty": "int", **LINEAGE}, table(("id", "long"), ("quantity", "int")))
    (refusal,) = changes.refusals
    assert refusal.field == "table.columns"
    assert "has a column 'qty' that is no longer declared" in refusal.message
    assert "ALTER TABLE market.t RENAME COLUMN qty TO <new>" in refusal.message


def test_switching_write_mode_or_key_on_a_live_table_is_refused() -> None:
    merge = Table.model_validate(
        {
            "namespace": "market",
            "name": "t",
            "write": "merge",
            "primary_key": ["id"],
            "columns": [{"name": "id", "path": "id", "type": "long", "required": True}],
        }
    )
    live = {"id": "long"}
    assert write_properties(merge) == {"lakehouse.write": "merge", "lakehouse.primary-key": "id"}
    (refusal,) = plan(live, merge, {}).refusals  # no stamp: an overwrite table from before merge tables
    assert refusal.field == "table.write" and "written with write: overwrite, not merge" in refusal.message
    (refusal,) = plan(live, merge, {"lakehouse.write": "merge", "lakehouse.primary-key": "code"}).refusals
    assert refusal.field == "table.primary_key" and "merged on [code]" in refusal.message
    assert not plan(live, merge, write_properties(merge)).refusals
    assert not plan(live, table(("id", "long")), {}).refusals
