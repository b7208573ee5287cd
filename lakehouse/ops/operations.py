"""What an operator asks of the lakehouse, answered from the catalog and the signal
table: each table's size and last write (`lakehouse tables`), each endpoint's landed
slots, lag and gaps (`lakehouse signals`), and which endpoints are late
(`lakehouse freshness`). The CLI modules only format these dataclasses.

Tables are described from Iceberg metadata alone (the current snapshot's summary and
the partition manifests): no data file is read. Signals are the one row per landed
run in ``scraper.signals``; expected slots come from each endpoint's schedule
(lakehouse.endpoints.slots).

Lateness: the slot after an endpoint's newest landed slot is due when that next slot
ends (a run ingests a slot once it is complete). An endpoint is *late* when now is
past that due time plus the grace (``freshness.grace_seconds``), i.e. when its newest
landed slot ended more than one schedule interval plus the grace ago. An endpoint
that never landed a slot is late too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from croniter import croniter

from lakehouse.config.settings import Settings
from lakehouse.endpoints.slots import previous_slots, to_utc
from lakehouse.errors import LakehouseError
from lakehouse.tables.catalog import load_catalog
from lakehouse.tables.signals import SIGNAL_IDENTIFIER

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from lakehouse.endpoints import EndpointConfig


class UnknownEndpointError(LakehouseError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(
            f"no endpoint named {name!r} among the configs ({', '.join(known) or 'none'}); "
            "`lakehouse validate` lists them and their problems"
        )


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


# --- tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class TableOverview:
    identifier: str
    rows: int | None
    partitions: int | None
    #: snapshots the catalog serves (Nessie serves the current one; its commit log
    #: holds the history: lakehouse.analyst.table_history)
    snapshots: int
    data_files: int | None
    size_bytes: int | None
    last_write: datetime | None
    last_operation: str | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(_json(asdict(self)))


def _int(summary: dict[str, str], key: str) -> int | None:
    value = summary.get(key)
    return int(value) if value is not None and value.lstrip("-").isdigit() else None


def describe_table(catalog: Catalog, identifier: str) -> TableOverview:
    """One table's overview from its metadata (summary and partition manifests)."""
    table = catalog.load_table(identifier)
    snapshot = table.current_snapshot()
    if snapshot is None:
        return TableOverview(identifier, 0, 0, 0, 0, 0, None, None)
    summary = snapshot.summary.additional_properties if snapshot.summary else {}
    operation = snapshot.summary.operation.value if snapshot.summary else None
    partitions: int | None
    if table.spec().is_unpartitioned():
        partitions = 1 if (_int(summary, "total-records") or 0) > 0 else 0
    else:
        # Reads the manifests (metadata), never a data file.
        partitions = table.inspect.partitions().num_rows
    return TableOverview(
        identifier=identifier,
        rows=_int(summary, "total-records"),
        partitions=partitions,
        snapshots=len(table.metadata.snapshots),
        data_files=_int(summary, "total-data-files"),
        size_bytes=_int(summary, "total-files-size"),
        last_write=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC),
        last_operation=operation,
    )


def table_overviews(
    settings: Settings, namespaces: Iterable[str] | None = None, catalog: Catalog | None = None
) -> list[TableOverview]:
    """Every table of the catalog (or of ``namespaces``), sorted by name. A table that
    fails to load is listed with its error rather than hiding the others."""

    catalog = catalog or load_catalog(settings)
    names = list(namespaces) if namespaces else [".".join(ns) for ns in catalog.list_namespaces()]
    identifiers = sorted(".".join(t) for ns in names for t in catalog.list_tables(ns))
    out = []
    for identifier in identifiers:
        try:
            out.append(describe_table(catalog, identifier))
        except Exception as exc:  # one broken table must not hide the rest
            out.append(
                TableOverview(identifier, None, None, 0, None, None, None, None, error=f"{type(exc).__name__}: {exc}")
            )
    return out


# --- signals and freshness ------------------------------------------------------------


@dataclass(frozen=True)
class LandedSlot:
    slot_start: datetime
    run_id: str
    published_at: datetime
    records: int | None


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    schedule: str
    now: datetime
    #: newest landed slots, newest first (at most ``latest_count``)
    latest: list[LandedSlot]
    newest_slot_start: datetime | None
    newest_slot_end: datetime | None
    #: now minus the end of the newest landed slot
    lag_seconds: float | None
    #: complete slots of the window after the newest landed one
    slots_behind: int
    #: when the slot after the newest landed one is due (its end), plus the grace
    late_after: datetime | None
    late: bool
    window_start: datetime
    #: complete slots checked: the newest ``freshness.window_slots`` (or --window),
    #: none before the endpoint's start_date
    window_slots: int
    #: complete slots of the window (from the endpoint's start_date on) with no signal
    missing: list[datetime] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(_json(asdict(self)))


def _signal_rows(settings: Settings, endpoints: Sequence[str], catalog: Catalog | None) -> list[dict[str, Any]]:
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.expressions import In

    catalog = catalog or load_catalog(settings)
    try:
        table = catalog.load_table(SIGNAL_IDENTIFIER)
    except NoSuchTableError:
        return []
    scan = table.scan(
        row_filter=In("endpoint", set(endpoints)),  # type: ignore[call-arg]  # pyiceberg's __new__ confuses mypy
        selected_fields=("endpoint", "run_id", "ds", "hr", "min", "published_at", "records"),
    )
    rows: list[dict[str, Any]] = scan.to_arrow().to_pylist()
    return rows


def _slot_start(row: dict[str, Any]) -> datetime:
    day = date.fromisoformat(row["ds"])
    return datetime.combine(day, time(int(row["hr"]), int(row["min"])), UTC)


def _next_end(schedule: str, slot_end: datetime) -> datetime:
    following: datetime = croniter(schedule, slot_end).get_next(datetime)
    return following.astimezone(UTC)


def endpoint_statuses(
    settings: Settings,
    configs: Sequence[EndpointConfig],
    *,
    now: datetime | None = None,
    window_slots: int | None = None,
    latest_count: int = 3,
    catalog: Catalog | None = None,
) -> list[EndpointStatus]:
    """Each endpoint's landed slots, lag, lateness and missing slots, by name."""
    moment = to_utc(now, "now") if now is not None else datetime.now(UTC)
    window = window_slots or settings.freshness.window_slots
    grace = timedelta(seconds=settings.freshness.grace_seconds)
    rows = _signal_rows(settings, [c.name for c in configs], catalog) if configs else []
    by_endpoint: dict[str, dict[datetime, dict[str, Any]]] = {}
    for row in rows:
        start = _slot_start(row)
        slots = by_endpoint.setdefault(row["endpoint"], {})
        # A slot has one run id; keep the newest publish should there ever be two.
        if start not in slots or row["published_at"] > slots[start]["published_at"]:
            slots[start] = row
    out = []
    for config in sorted(configs, key=lambda c: c.name):
        schedule = config.schedule
        landed = by_endpoint.get(config.name, {})
        # Only slots that are over; a slot after now is not due yet.
        landed_done = {s: r for s, r in landed.items() if s <= moment}
        # The window's complete slots, none before the endpoint's start_date.
        first_day = datetime.combine(config.start_date, time(0), UTC)
        expected = [w for w in previous_slots(schedule, moment, window) if w[0] >= first_day]
        window_start = expected[0][0] if expected else max(first_day, moment)
        missing = [s for s, _ in expected if s not in landed_done]
        newest = max(landed_done) if landed_done else None
        latest = [
            LandedSlot(s, r["run_id"], to_utc(r["published_at"], "published_at"), r.get("records"))
            for s, r in sorted(landed_done.items(), reverse=True)[:latest_count]
        ]
        if newest is None:
            out.append(
                EndpointStatus(
                    config.name,
                    schedule,
                    moment,
                    latest,
                    None,
                    None,
                    None,
                    len(expected),
                    None,
                    True,
                    window_start,
                    len(expected),
                    missing,
                )
            )
            continue
        newest_end = _next_end(schedule, newest)
        late_after = _next_end(schedule, newest_end) + grace
        behind = sum(1 for s, _ in expected if s > newest)
        out.append(
            EndpointStatus(
                endpoint=config.name,
                schedule=schedule,
                now=moment,
                latest=latest,
                newest_slot_start=newest,
                newest_slot_end=newest_end,
                lag_seconds=(moment - newest_end).total_seconds(),
                slots_behind=behind,
                late_after=late_after,
                late=moment > late_after,
                window_start=window_start,
                window_slots=len(expected),
                missing=missing,
            )
        )
    return out


def select_endpoints(configs: Sequence[EndpointConfig], name: str | None) -> list[EndpointConfig]:
    if name is None:
        return list(configs)
    chosen = [c for c in configs if c.name == name]
    if not chosen:
        raise UnknownEndpointError(name, sorted(c.name for c in configs))
    return chosen
