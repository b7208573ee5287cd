"""Evolve an endpoint's live table to its declared columns before the transform writes.

The rules (what is added, what is widened, what is refused) are the core's,
lakehouse.tables.schema_evolution, which `lakehouse validate` applies to the same table
through the catalog; here they are applied to Spark's view of the table and carried
out with ALTER TABLE, one commit per statement. Schema changes make no snapshot, so
the transform records what it applied under ``lakehouse.schema-evolution`` in the
summary of its next write (:data:`lakehouse.tables.schema_evolution.SUMMARY_KEY`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lakehouse.endpoints import Table
from lakehouse.errors import LakehouseError
from lakehouse.tables.schema_evolution import EvolutionPlan, from_spark, plan
from spark_jobs.tables import quote, quote_parts, spark_type

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


class TableSchemaMismatchError(LakehouseError):
    def __init__(self, table: str, problems: list[str]) -> None:
        super().__init__(
            f"{table} cannot take the endpoint's declared columns: {'; '.join(problems)}. "
            "`lakehouse validate` reports the same against the live catalog before any run."
        )


def evolve_table(spark: SparkSession, identifier: str, table: Table) -> EvolutionPlan:
    """Add the declared columns the table lacks and apply allowed widenings; refuse
    (before anything is changed) when any declared change is not allowed."""
    target = quote(identifier)
    existing = {f.name: from_spark(f.dataType.simpleString()) for f in spark.table(target).schema.fields}
    properties = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {target}").collect()}
    changes = plan(existing, table, properties)
    if changes.refusals:
        raise TableSchemaMismatchError(identifier, [r.message for r in changes.refusals])
    if changes.additions:
        columns = ", ".join(f"{quote_parts(c.name)} {spark_type(c)}" for c in changes.additions)
        spark.sql(f"ALTER TABLE {target} ADD COLUMNS ({columns})")
    for widening in changes.widenings:
        column = quote_parts(widening.column.name)
        spark.sql(f"ALTER TABLE {target} ALTER COLUMN {column} TYPE {spark_type(widening.column)}")
    if changes.changes:
        log.info("%s: schema evolved: %s", identifier, changes.describe())
    return changes
