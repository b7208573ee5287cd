"""Endpoint SLAs: which endpoints have slots that did not land in time.

An endpoint's ``sla:`` (config/endpoints/<name>.yaml) is the most a slot may lag: a
slot must have landed (its signal row published) within that long after the slot
ends. At a given moment, a slot of the freshness window (lakehouse.ops.operations) with
no signal whose end plus the SLA is already past is *overdue*; an endpoint with an
overdue slot breaches its SLA. The ``lakehouse_sla`` DAG (lakehouse_airflow.sla)
checks this every schedule interval and fails naming each late endpoint and its
overdue slots; endpoints without ``sla:`` are not checked.

Engine-free: the answer comes from lakehouse.ops.operations, which reads the signal
table; this module adds only the SLA rule and the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from croniter import croniter

from lakehouse.config.settings import Settings
from lakehouse.errors import LakehouseError
from lakehouse.ops.operations import EndpointStatus, endpoint_statuses

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from lakehouse.endpoints import EndpointConfig

#: overdue slots named per endpoint in a message (the count is always given)
MAX_SLOTS_NAMED = 10


def format_duration(value: timedelta) -> str:
    """45m, 1h30m, 2d: the form an ``sla:`` is written in."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class SlaCheck:
    endpoint: str
    sla: timedelta
    #: slot starts with no signal whose end + sla is past, oldest first
    overdue: list[datetime] = field(default_factory=list)
    #: now minus the end of the oldest overdue slot (None when none is)
    worst_lag: timedelta | None = None

    @property
    def late(self) -> bool:
        return bool(self.overdue)

    def describe(self) -> str:
        sla = format_duration(self.sla)
        if not self.late:
            return f"{self.endpoint}: within its SLA of {sla}"
        assert self.worst_lag is not None
        named = ", ".join(s.strftime("%Y-%m-%dT%H:%MZ") for s in self.overdue[:MAX_SLOTS_NAMED])
        more = f" and {len(self.overdue) - MAX_SLOTS_NAMED} more" if len(self.overdue) > MAX_SLOTS_NAMED else ""
        return (
            f"{self.endpoint}: {len(self.overdue)} slot(s) missing past its SLA of {sla} "
            f"(oldest {format_duration(self.worst_lag)} after its end): {named}{more}"
        )


class SlaBreachedError(LakehouseError):
    def __init__(self, late: Sequence[SlaCheck], checked: int) -> None:
        self.late = list(late)
        lines = [f"{len(late)} of {checked} endpoint(s) with an SLA are late:"]
        lines += [f"  - {check.describe()}" for check in late]
        lines.append(
            "Look at each slot's ingest DAG run (`lakehouse signals <endpoint>` lists the gaps); "
            "rerun or backfill the missing slots (`airflow backfill create --dag-id ingest_<endpoint> ...`)."
        )
        super().__init__("\n".join(lines))


def _slot_end(schedule: str, slot_start: datetime) -> datetime:
    end: datetime = croniter(schedule, slot_start).get_next(datetime)
    return end


def check_status(status: EndpointStatus, sla: timedelta) -> SlaCheck:
    """The SLA verdict for one endpoint's freshness status."""
    overdue = sorted(s for s in status.missing if _slot_end(status.schedule, s) + sla < status.now)
    worst = status.now - _slot_end(status.schedule, overdue[0]) if overdue else None
    return SlaCheck(status.endpoint, sla, overdue, worst)


def check_slas(
    settings: Settings,
    configs: Sequence[EndpointConfig],
    *,
    now: datetime | None = None,
    catalog: Catalog | None = None,
) -> list[SlaCheck]:
    """Each endpoint that declares ``sla:``, checked at ``now`` (default: now), by name."""
    with_sla: dict[str, timedelta] = {}
    for config in configs:
        if config.sla is not None:
            with_sla[config.name] = config.sla
    chosen = [c for c in configs if c.name in with_sla]
    statuses = endpoint_statuses(settings, chosen, now=now, catalog=catalog) if chosen else []
    return [check_status(status, with_sla[status.endpoint]) for status in statuses]


def raise_for_breaches(checks: Sequence[SlaCheck]) -> None:
    late = [c for c in checks if c.late]
    if late:
        raise SlaBreachedError(late, len(checks))
