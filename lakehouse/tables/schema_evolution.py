"""Which change of an endpoint's declared columns a live Iceberg table can take: the one
place for the rules, used by `lakehouse validate` (against the catalog, with pyiceberg)
and by the Spark transform (before it writes, with Spark's view of the table).

Compared column by column, by name, in the config's type vocabulary (``int``,
``long``, ``decimal(18,8)``, ...; see :func:`from_iceberg` and :func:`from_spark`):

- a declared column the table lacks is **added** (ALTER TABLE ADD COLUMN): old rows
  read NULL for it;
- a type change Iceberg can apply to existing data files without rewriting them is a
  **widening** and is applied (ALTER COLUMN ... TYPE): int -> long, float -> double,
  decimal(P,S) -> decimal(P',S) with P' > P (the Iceberg spec's type promotions);
- anything else is **refused** with how to migrate: a narrowing (long -> int, a
  smaller decimal precision), a change Iceberg does not allow (a decimal scale, int
  -> string, ...), and a column of the table that the config no longer declares (a
  rename or a removal; renaming in the config alone would orphan the old column's
  values and start a new, empty one).

The lineage and partition columns every endpoint table carries are not declared in
configs and are left out of the comparison.

The write mode is compared too: the transform stamps each endpoint table with
``lakehouse.write`` (and, for merge tables, ``lakehouse.primary-key``) when it creates
it (:func:`write_properties`; a table without the stamp predates merge tables and was
written by overwrite). Switching a live table between overwrite and merge, or
changing its key, is refused: the rows already there were not written by that rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lakehouse.endpoints.loader import field_path
from lakehouse.endpoints.models import PARTITION_COLUMNS, Column, Table

#: Written by the transform into every endpoint table, never declared in a config.
LINEAGE_COLUMNS: frozenset[str] = frozenset({"_run_id", "_ingested_at"})
#: The snapshot-summary key under which a write records the evolution it applied.
SUMMARY_KEY = "lakehouse.schema-evolution"
#: Table properties naming how an endpoint table is written.
WRITE_PROPERTY = "lakehouse.write"
KEY_PROPERTY = "lakehouse.primary-key"

_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
# Iceberg type names (str() of a pyiceberg type) -> the config's names.
_ICEBERG_NAMES = {"timestamptz": "timestamp", "timestamp": "timestamp_ntz"}
# Spark SQL simple strings -> the config's names.
_SPARK_NAMES = {"bigint": "long", "integer": "int"}
# Promotions Iceberg applies to existing files without a rewrite (spec: schema evolution).
_WIDENINGS = {("int", "long"), ("float", "double")}


def _decimal(type_name: str) -> tuple[int, int] | None:
    match = _DECIMAL.match(type_name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _canonical_decimal(type_name: str) -> str:
    d = _decimal(type_name)
    return f"decimal({d[0]},{d[1]})" if d else type_name


def from_iceberg(type_text: str) -> str:
    """An Iceberg type's name (``str(pyiceberg_type)``) in the config's vocabulary."""
    text = type_text.strip().lower()
    return _canonical_decimal(_ICEBERG_NAMES.get(text, text))


def from_spark(simple_string: str) -> str:
    """A Spark SQL type (``DataType.simpleString()``) in the config's vocabulary."""
    text = simple_string.strip().lower()
    return _canonical_decimal(_SPARK_NAMES.get(text, text))


def is_widening(old: str, new: str) -> bool:
    """True when Iceberg can promote a column of type ``old`` to ``new`` in place."""
    if (old, new) in _WIDENINGS:
        return True
    before, after = _decimal(old), _decimal(new)
    return before is not None and after is not None and after[1] == before[1] and after[0] > before[0]


@dataclass(frozen=True)
class Refusal:
    """One change the table cannot take: the config field it is about, and what to do."""

    field: str
    message: str


@dataclass(frozen=True)
class Widening:
    column: Column
    old_type: str


@dataclass
class EvolutionPlan:
    """What one write must do to the live table before it writes, or why it must not."""

    additions: list[Column] = field(default_factory=list)
    widenings: list[Widening] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.additions or self.widenings)

    def describe(self) -> str:
        """The applied changes in one line, for the snapshot summary and the job log."""
        parts = [f"added {c.name} {c.type}" for c in self.additions]
        parts += [f"widened {w.column.name} {w.old_type} -> {w.column.type}" for w in self.widenings]
        return "; ".join(parts)


def write_properties(table: Table) -> dict[str, str]:
    """The table properties an endpoint table is created with: its write mode and key."""
    properties: dict[str, str] = {WRITE_PROPERTY: table.write}
    if table.write == "merge":
        properties[KEY_PROPERTY] = ",".join(table.primary_key)
    return properties


def _migration(identifier: str) -> str:
    return (
        f"to migrate, declare a new table name (table.name) and rebuild it from raw with "
        f"`raw_to_table --from/--to` over the slots to keep, or rewrite {identifier} yourself "
        "and then change the config"
    )


def _write_mode_refusals(properties: Mapping[str, str], table: Table) -> list[Refusal]:
    live = properties.get(WRITE_PROPERTY, "overwrite")
    if live != table.write:
        return [
            Refusal(
                "table.write",
                f"the live table {table.identifier} is written with write: {live}, not {table.write}; its rows "
                f"were not written by that rule (an overwrite table holds every record, many per key). Keep "
                f"write: {live}, or {_migration(table.identifier)}",
            )
        ]
    key = properties.get(KEY_PROPERTY, "")
    if table.write == "merge" and key != ",".join(table.primary_key):
        return [
            Refusal(
                "table.primary_key",
                f"the live table {table.identifier} is merged on [{key}], not {table.primary_key}; its rows hold "
                f"one version per old key. Keep primary_key: [{key}], or {_migration(table.identifier)}",
            )
        ]
    return []


def plan(existing: Mapping[str, str], table: Table, properties: Mapping[str, str] | None = None) -> EvolutionPlan:
    """Compare the live table's columns (name -> type in the config's vocabulary, see
    :func:`from_iceberg` / :func:`from_spark`) and, when given, its table properties
    with the declared ``table``."""
    result = EvolutionPlan()
    if properties is not None:
        result.refusals.extend(_write_mode_refusals(properties, table))
    declared = {c.name for c in table.columns}
    for index, column in enumerate(table.columns):
        where = field_path(["table", "columns", index, "type"])
        old = existing.get(column.name)
        if old is None:
            result.additions.append(column)
        elif old == column.type:
            continue
        elif is_widening(old, column.type):
            result.widenings.append(Widening(column, old))
        else:
            kind = "a narrowing" if is_widening(column.type, old) else "a type change Iceberg cannot apply in place"
            result.refusals.append(
                Refusal(
                    where,
                    f"column {column.name!r} is {old} in the live table {table.identifier} and {column.type} "
                    f"here: {kind} (Iceberg widens only int -> long, float -> double and decimal precision "
                    f"up at the same scale). Keep {old}, or {_migration(table.identifier)}",
                )
            )
    for name in existing:
        if name in declared or name in LINEAGE_COLUMNS or name in PARTITION_COLUMNS:
            continue
        result.refusals.append(
            Refusal(
                "table.columns",
                f"the live table {table.identifier} has a column {name!r} that is no longer declared "
                "(renamed or removed?). Declare it again; to rename, run "
                f"ALTER TABLE {table.identifier} RENAME COLUMN {name} TO <new> and then rename it here; to drop "
                f"it, ALTER TABLE {table.identifier} DROP COLUMN {name}",
            )
        )
    return result
