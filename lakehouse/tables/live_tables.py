"""Check endpoint configs against the live tables in the catalog (`lakehouse validate`).

A config can be valid on its own and still be refused by the table it writes: a
narrowed type, a type Iceberg cannot change in place, a renamed or dropped column
(lakehouse.tables.schema_evolution). The Spark transform refuses those before it writes;
this check says so before a DAG or a run ever gets there, with the file and field.

Reaching the catalog is not always possible where configs are validated (CI, a laptop
without the stack). Then the check does not pass silently: the report names what
could not be checked and why, and the caller decides whether that is a warning
(``--live auto``, the default) or an error (``--live require``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.endpoints import EndpointConfig, EndpointConfigError
from lakehouse.endpoints.loader import display_path
from lakehouse.tables.catalog import load_catalog
from lakehouse.tables.schema_evolution import from_iceberg, plan

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings


@dataclass
class LiveReport:
    #: one line per declared table: what the next write will do to it
    lines: list[str] = field(default_factory=list)
    #: changes the live tables refuse, one error per config file
    errors: list[EndpointConfigError] = field(default_factory=list)
    #: why tables could not be checked (catalog unreachable, no credentials, ...)
    unchecked: list[str] = field(default_factory=list)


def check_live_tables(configs: Sequence[tuple[Path, EndpointConfig]], settings: Settings) -> LiveReport:
    """Plan each declared table's evolution against its live table in the catalog."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    report = LiveReport()
    tables = [(path, config.table) for path, config in configs if config.table is not None]
    if not tables:
        return report
    uri = settings.catalog.rest_uri
    try:
        catalog = load_catalog(settings)
    except Exception as exc:  # any failure to connect means "not checked", reported as such
        report.unchecked.append(f"the Iceberg catalog at {uri} could not be reached ({type(exc).__name__}: {exc})")
        return report
    for path, table in tables:
        try:
            live = catalog.load_table(table.identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            report.lines.append(f"{table.identifier}: not created yet (the first run creates it)")
            continue
        except Exception as exc:
            report.unchecked.append(f"{table.identifier} at {uri}: {type(exc).__name__}: {exc}")
            continue
        existing = {f.name: from_iceberg(str(f.field_type)) for f in live.schema().fields}
        changes = plan(existing, table, live.properties)
        if changes.refusals:
            report.errors.append(
                EndpointConfigError(display_path(path), [(r.field, r.message) for r in changes.refusals])
            )
        elif changes.changes:
            report.lines.append(f"{table.identifier}: the next run evolves it: {changes.describe()}")
        else:
            report.lines.append(f"{table.identifier}: matches the live table")
    return report
