"""Incremental cursors: each slot asks for what changed since the previous slot's mark.

An endpoint with ``incremental: {cursor_path, param, initial_value}`` sends
``param=<start>``; the worker lands every page and records, in the slot's manifest,
the range it covered: ``start`` (what it asked from) and ``end`` (the largest
``cursor_path`` value it landed, or ``start`` when nothing changed). That manifest
is the durable mark: the next slot's job asks from it. Because the manifest is
written last, a slot that crashed mid-crawl advanced nothing; its job (still in
the queue, with its cursor range) crawls the same range again.

Where a slot's start comes from (``plan_range``), first match wins:

1. the slot's own manifest (a rerun or a backfill of a recorded slot): its recorded
   start, and with ``until_param`` its recorded end as the upper bound, so it
   fetches exactly that range again;
2. an operator's reset (``lakehouse state <endpoint> --reset``) newer than the
   latest landing before the slot;
3. the latest landing before the slot: its end (and with ``until_param``, a slot
   filling a gap is bounded by the next landing's start);
4. ``initial_value``.

Redis holds none of this, so flushing it loses no mark. Values compare as numbers
when both parse as numbers, else as text (ISO 8601 UTC times of one width sort as
text).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from lakehouse.errors import LakehouseError
from lakehouse.queue.cursor import later
from lakehouse.queue.jobs import JobCursor, run_id_for
from lakehouse.raw import layout as raw_layout
from lakehouse.raw.storage import read_object

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from lakehouse.endpoints import EndpointConfig


class NotIncrementalError(LakehouseError):
    def __init__(self, endpoint: str) -> None:
        super().__init__(
            f"endpoint {endpoint!r} has no incremental: block, so it keeps no cursor mark; "
            "see docs/endpoints.md (incremental) to add one"
        )


# --- where the marks are -----------------------------------------------------------------


class CursorReset(BaseModel):
    """The object ``lakehouse state --reset`` writes (raw_layout.cursor_reset_key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1, max_length=200)
    created_at: AwareDatetime


@dataclass(frozen=True)
class LandedRange:
    """One landed slot's recorded range."""

    slot_start: datetime
    run_id: str
    start: str
    end: str
    records: int
    finished_at: datetime

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["slot_start"] = self.slot_start.isoformat()
        out["finished_at"] = self.finished_at.isoformat()
        return out


@dataclass(frozen=True)
class AskedRange:
    """What a slot's job asks for, and why."""

    start: str
    until: str | None
    source: str  # recorded | reset | previous | initial

    def job_cursor(self) -> JobCursor:
        """What the crawl job carries: the values, not where they came from."""
        return JobCursor(start=self.start, until=self.until)


def _days(client: S3Client, bucket: str, raw_base: str, endpoint: str) -> list[date]:
    """The days that hold landings, from one delimited listing (oldest first)."""
    prefix = raw_layout.endpoint_prefix(raw_base, endpoint)
    days: list[date] = []
    for listing in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for common in listing.get("CommonPrefixes", []):
            name = common["Prefix"][len(prefix) :].rstrip("/")
            if name.startswith("ds="):
                try:
                    days.append(date.fromisoformat(name[3:]))
                except ValueError:
                    continue
    return sorted(days)


def _manifest_keys(client: S3Client, bucket: str, raw_base: str, endpoint: str, day: date) -> list[str]:
    """The day's manifest keys, newest slot first."""
    keys: list[tuple[datetime, str]] = []
    prefix = raw_layout.day_prefix(raw_base, endpoint, day)
    for listing in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in listing.get("Contents", []):
            parsed = raw_layout.parse_manifest_key(obj["Key"])
            if parsed is not None and parsed.endpoint == endpoint:
                keys.append((parsed.slot_start, obj["Key"]))
    return [key for _, key in sorted(keys, reverse=True)]


def _read(client: S3Client, bucket: str, key: str) -> raw_layout.Manifest | None:
    body = read_object(client, bucket, key)
    return raw_layout.Manifest.from_json(body) if body is not None else None


def _landed(manifest: raw_layout.Manifest | None) -> LandedRange | None:
    if manifest is None or manifest.incremental is None:
        return None
    return LandedRange(
        slot_start=manifest.slot_start.astimezone(UTC),
        run_id=manifest.run_id,
        start=manifest.incremental.start,
        end=manifest.incremental.end,
        records=manifest.total_records,
        finished_at=manifest.finished_at,
    )


def landed_ranges(
    client: S3Client, bucket: str, raw_base: str, endpoint: str, *, before: datetime | None = None
) -> Iterator[LandedRange]:
    """Recorded ranges of the endpoint's landings, newest slot first (only slots
    starting before ``before`` when given). Lists one day at a time, so a caller that
    needs the latest one reads one day."""
    for day in reversed(_days(client, bucket, raw_base, endpoint)):
        if before is not None and day > before.date():
            continue
        for key in _manifest_keys(client, bucket, raw_base, endpoint, day):
            parsed = raw_layout.parse_manifest_key(key)
            if before is not None and parsed is not None and parsed.slot_start >= before:
                continue
            found = _landed(_read(client, bucket, key))
            if found is not None:
                yield found


def _next_after(client: S3Client, bucket: str, raw_base: str, endpoint: str, slot: datetime) -> LandedRange | None:
    for day in _days(client, bucket, raw_base, endpoint):
        if day < slot.date():
            continue
        for key in reversed(_manifest_keys(client, bucket, raw_base, endpoint, day)):
            parsed = raw_layout.parse_manifest_key(key)
            if parsed is not None and parsed.slot_start > slot:
                found = _landed(_read(client, bucket, key))
                if found is not None:
                    return found
    return None


def read_reset(client: S3Client, bucket: str, raw_base: str, endpoint: str) -> CursorReset | None:
    body = read_object(client, bucket, raw_layout.cursor_reset_key(raw_base, endpoint))
    return CursorReset.model_validate_json(body) if body is not None else None


def plan_range(
    client: S3Client, bucket: str, raw_base: str, config: EndpointConfig, slot_start: datetime
) -> AskedRange:
    """The range slot ``slot_start`` asks for (see the module docstring for the order)."""
    inc = config.incremental
    if inc is None:
        raise NotIncrementalError(config.name)
    run_id = run_id_for(config.name, slot_start)
    own = _landed(
        _read(client, bucket, raw_layout.manifest_key(raw_layout.run_prefix(raw_base, config.name, slot_start, run_id)))
    )
    if own is not None:
        return AskedRange(own.start, own.end if inc.until_param else None, "recorded")
    previous = next(landed_ranges(client, bucket, raw_base, config.name, before=slot_start), None)
    reset = read_reset(client, bucket, raw_base, config.name)
    if reset is not None and (previous is None or reset.created_at > previous.finished_at):
        return AskedRange(reset.value, None, "reset")
    if previous is None:
        return AskedRange(inc.initial_value, None, "initial")
    until = None
    if inc.until_param:
        following = _next_after(client, bucket, raw_base, config.name, slot_start)
        if following is not None and later(following.start, previous.end):
            until = following.start
    return AskedRange(previous.end, until, "previous")


def write_reset(client: S3Client, bucket: str, raw_base: str, config: EndpointConfig, value: str | None) -> CursorReset:
    """Make the next slot without a landing ask from ``value`` (default: initial_value)."""
    if config.incremental is None:
        raise NotIncrementalError(config.name)
    reset = CursorReset(value=value or config.incremental.initial_value, created_at=datetime.now(UTC))
    client.put_object(
        Bucket=bucket,
        Key=raw_layout.cursor_reset_key(raw_base, config.name),
        Body=reset.model_dump_json().encode(),
        ContentType="application/json",
    )
    return reset


@dataclass(frozen=True)
class CursorState:
    """What `lakehouse state <endpoint>` shows: the marks and where the next slot starts."""

    endpoint: str
    param: str
    cursor_path: str
    initial_value: str
    next_start: str
    next_source: str  # previous | reset | initial
    reset: CursorReset | None
    latest: list[LandedRange]

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "param": self.param,
            "cursor_path": self.cursor_path,
            "initial_value": self.initial_value,
            "next_start": self.next_start,
            "next_source": self.next_source,
            "reset": self.reset.model_dump(mode="json") if self.reset else None,
            "latest": [r.to_dict() for r in self.latest],
        }


def cursor_state(client: S3Client, bucket: str, raw_base: str, config: EndpointConfig, latest: int = 5) -> CursorState:
    """The endpoint's newest ``latest`` recorded ranges and the next new slot's start
    (the same rule as ``plan_range`` for a slot after every landing)."""
    inc = config.incremental
    if inc is None:
        raise NotIncrementalError(config.name)
    ranges: list[LandedRange] = []
    for found in landed_ranges(client, bucket, raw_base, config.name):
        ranges.append(found)
        if len(ranges) >= latest:
            break
    reset = read_reset(client, bucket, raw_base, config.name)
    newest = ranges[0] if ranges else None
    if reset is not None and (newest is None or reset.created_at > newest.finished_at):
        start, source = reset.value, "reset"
    elif newest is not None:
        start, source = newest.end, "previous"
    else:
        start, source = inc.initial_value, "initial"
    return CursorState(
        endpoint=config.name,
        param=inc.param,
        cursor_path=inc.cursor_path,
        initial_value=inc.initial_value,
        next_start=start,
        next_source=source,
        reset=reset,
        latest=ranges,
    )
