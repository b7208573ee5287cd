"""Where raw pages land, and the manifest that marks a landing complete.

Every raw object key is built here and nowhere else::

    <raw_base>/<endpoint>/ds=YYYY-MM-DD/hr=HH/min=MM/<run_id>/attempt-<lease>/page-000001.json
                                                              attempt-<lease>/page-000002.json
                                                              ...
                                                              _manifest.json   (written last)

The run prefix depends only on (endpoint, slot start, run_id), so every attempt and
rerun of a slot lands under the same prefix. Pages go into the folder of the attempt
that fetched them, named for its queue lease id (the fencing token of
``lakehouse.queue.crawl_queue``; it only grows), so an attempt writes only its own objects: a
worker whose lease was taken while it was paused can overwrite or delete no page of
a newer attempt. The manifest is the single commit point: it names its attempt and
its page keys, and it replaces an earlier attempt's manifest (an S3 conditional write,
``scrapworker.landing``) but never a newer one's. Readers go through the manifest's
page keys, never a listing: a prefix may hold pages of older or failed attempts until
the current attempt removes them, and a prefix without ``_manifest.json`` is an
incomplete landing (a crawl in progress or a crashed one) whose pages are ignored.

Manifests written before attempt folders existed have no ``attempt`` and list pages
directly under the run prefix (``<run_id>/page-000001.json``): they stay readable,
and count as older than any attempt.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta
from typing import Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

# Redaction is the auth policy's (lakehouse.endpoints.auth); re-exported for the layout's readers.
from lakehouse.endpoints.auth import DEFAULT_SECRET_PARAMS as DEFAULT_SECRET_PARAMS
from lakehouse.endpoints.auth import redact_url as redact_url
from lakehouse.endpoints.auth import url_has_secrets
from lakehouse.endpoints.slots import to_utc

MANIFEST_SCHEMA_VERSION: Literal[1] = 1
MANIFEST_NAME = "_manifest.json"
ATTEMPT_FOLDER = "attempt-"
CURSOR_RESET_NAME = "_cursor_reset.json"
PAGE_DIGITS = 6
MAX_PAGE_INDEX = 10**PAGE_DIGITS - 1

# Path segments go into S3 keys and Spark/Airflow identifiers: keep them boring.
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
SEGMENT_MAX = 200


class Partition(NamedTuple):
    ds: str
    hr: str
    min: str


def _segment(value: str, what: str) -> str:
    # fullmatch: with match, '$' would also accept a trailing newline. S3 keys end at
    # 1024 bytes, so one segment may not eat them.
    if not _SEGMENT_RE.fullmatch(value) or len(value) > SEGMENT_MAX:
        raise ValueError(
            f"{what} {value[:80]!r}{'…' if len(value) > 80 else ''} is not safe in an S3 key: use letters, "
            f"digits, '_', '-', '.' (at most {SEGMENT_MAX} characters)"
        )
    return value


def partition_of(slot_start: datetime) -> Partition:
    """The (ds, hr, min) partition values of a slot: from its start, in UTC."""
    t = to_utc(slot_start, "slot start")  # a naive time: NaiveTimeError, a ValueError
    return Partition(ds=f"{t:%Y-%m-%d}", hr=f"{t:%H}", min=f"{t:%M}")


def endpoint_prefix(raw_base: str, endpoint: str) -> str:
    """The prefix (ending in '/') of every landing of ``endpoint``."""
    base = raw_base.strip("/")
    # Each part of the base is a plain segment too: no '..', no '//', no absolute path
    # smuggled into the keys, which some S3 servers resolve like file paths.
    parts = [_segment(part, "raw prefix segment") for part in base.split("/")] if base else []
    return "/".join([*parts, _segment(endpoint, "endpoint name")]) + "/"


def day_prefix(raw_base: str, endpoint: str, day: date) -> str:
    """The prefix (ending in '/') of every landing of ``endpoint`` whose slot starts on
    ``day`` (UTC): a backfill lists only the days it covers."""
    return f"{endpoint_prefix(raw_base, endpoint)}ds={day.isoformat()}/"


def day_prefixes(raw_base: str, endpoint: str, start: datetime, end: datetime) -> list[str]:
    """The day prefixes covering slot starts in [start, end), oldest first."""
    day = to_utc(start, "range start").date()
    last = (to_utc(end, "range end") - timedelta(microseconds=1)).date()
    prefixes = []
    while day <= last:
        prefixes.append(day_prefix(raw_base, endpoint, day))
        day += timedelta(days=1)
    return prefixes


def run_prefix(raw_base: str, endpoint: str, slot_start: datetime, run_id: str) -> str:
    """The prefix (ending in '/') under which one run's pages and manifest land."""
    p = partition_of(slot_start)
    return f"{endpoint_prefix(raw_base, endpoint)}ds={p.ds}/hr={p.hr}/min={p.min}/{_segment(run_id, 'run_id')}/"


class LandingKey(NamedTuple):
    """What a manifest key says about its landing, read back from the layout."""

    endpoint: str
    slot_start: datetime  # aware, UTC
    run_id: str


# <endpoint>/ds=YYYY-MM-DD/hr=HH/min=MM/<run_id>/_manifest.json at the end of a key; the
# raw base before it may be anything (or nothing).
_MANIFEST_KEY_RE = re.compile(
    r"(?:^|/)(?P<endpoint>[^/]+)/ds=(?P<ds>\d{4}-\d{2}-\d{2})/hr=(?P<hr>\d{2})/min=(?P<min>\d{2})/"
    r"(?P<run_id>[^/]+)/" + re.escape(MANIFEST_NAME) + "$"
)


def parse_manifest_key(key: str) -> LandingKey | None:
    """The endpoint, slot start and run id of a manifest key built by manifest_key(run_prefix(...));
    None for any other key (a page, a stray object, a key with an impossible slot time)."""
    match = _MANIFEST_KEY_RE.search(key)
    if match is None:
        return None
    try:
        slot = datetime.fromisoformat(f"{match['ds']}T{match['hr']}:{match['min']}:00+00:00")
    except ValueError:
        return None
    if not (_SEGMENT_RE.fullmatch(match["endpoint"]) and _SEGMENT_RE.fullmatch(match["run_id"])):
        return None
    return LandingKey(endpoint=match["endpoint"], slot_start=slot, run_id=match["run_id"])


_RUN_PREFIX_RE = re.compile(r"^(?:.*/)?[^/]+/ds=\d{4}-\d{2}-\d{2}/hr=\d{2}/min=\d{2}/[^/]+/")


def run_prefix_of(key: str) -> str | None:
    """The run prefix (ending in '/') that a page, attempt or manifest key lies under;
    None for a key outside any run (e.g. an endpoint's cursor reset)."""
    match = _RUN_PREFIX_RE.match(key)
    return match[0] if match else None


def _check_prefix(prefix: str) -> str:
    if not prefix.endswith("/"):
        raise ValueError(f"run prefix {prefix!r} must end with '/': build it with run_prefix()")
    return prefix


def attempt_prefix(prefix: str, attempt: int) -> str:
    """The folder (ending in '/') of one attempt's pages under a run prefix."""
    if attempt < 1:
        raise ValueError(f"attempt {attempt} is not a lease id (those start at 1)")
    return f"{_check_prefix(prefix)}{ATTEMPT_FOLDER}{attempt}/"


def page_key(prefix: str, index: int, attempt: int | None) -> str:
    """Page ``index`` (1-based) of a run's attempt (its lease id): zero-padded so keys
    sort in page order. ``attempt`` None is the layout before attempt folders, for
    reading old manifests; every new landing names its attempt."""
    if not 1 <= index <= MAX_PAGE_INDEX:
        raise ValueError(f"page index {index} is outside 1..{MAX_PAGE_INDEX}; lower the endpoint's max_pages")
    folder = _check_prefix(prefix) if attempt is None else attempt_prefix(prefix, attempt)
    return f"{folder}page-{index:0{PAGE_DIGITS}d}.json"


_ATTEMPT_KEY_RE = re.compile(re.escape(ATTEMPT_FOLDER) + r"([1-9][0-9]{0,18})/[^/]+")
_LEGACY_PAGE_RE = re.compile(rf"page-[0-9]{{{PAGE_DIGITS}}}\.json")


def attempt_of(prefix: str, key: str) -> int | None:
    """Which attempt wrote ``key`` under the run ``prefix``: its lease id, 0 for a page
    of the layout before attempt folders, None for anything else (the manifest, a key
    outside the prefix, an object the layout does not know): clean-up removes only
    keys with an attempt, and only of older attempts than the current manifest's."""
    if not key.startswith(_check_prefix(prefix)):
        return None
    rest = key[len(prefix) :]
    if match := _ATTEMPT_KEY_RE.fullmatch(rest):
        return int(match[1])
    return 0 if _LEGACY_PAGE_RE.fullmatch(rest) else None


def manifest_key(prefix: str) -> str:
    return _check_prefix(prefix) + MANIFEST_NAME


def cursor_reset_key(raw_base: str, endpoint: str) -> str:
    """The operator's reset of an incremental endpoint's mark (``lakehouse state
    --reset``): beside the endpoint's ``ds=`` tree, so no landing listing sees it."""
    return endpoint_prefix(raw_base, endpoint) + CURSOR_RESET_NAME


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ManifestPage(_Strict):
    index: int = Field(ge=1, le=MAX_PAGE_INDEX)
    key: str
    url: str  # as requested, redacted with redact_url()
    status_code: int = Field(ge=100, le=599)
    records: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    fetched_at: AwareDatetime
    elapsed_seconds: float = Field(ge=0)
    # A dependent endpoint's page: the parent record's value it was fetched for.
    parent_key: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _url_has_no_secrets(self) -> ManifestPage:
        if url_has_secrets(self.url):
            raise ValueError(
                f"page {self.index}: the URL still carries credentials (userinfo or a secret "
                "query parameter); pass it through redact_url() before recording it"
            )
        return self


class CursorRange(_Strict):
    """An incremental landing's range of ``param`` values: it asked from ``start``
    (exclusive) and covered everything up to ``end``, the mark the next slot asks from."""

    param: str
    start: str
    end: str


class Manifest(_Strict):
    """The last object of a landing. Its presence means every listed page is in place."""

    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    run_id: str
    endpoint: str
    slot_start: AwareDatetime
    slot_end: AwareDatetime
    prefix: str
    pages: list[ManifestPage]
    total_pages: int = Field(ge=0)
    total_records: int = Field(ge=0)
    total_bytes: int = Field(ge=0)
    started_at: AwareDatetime
    finished_at: AwareDatetime
    worker_id: str | None = None
    incremental: CursorRange | None = None
    # EndpointConfig.content_hash of the config the worker crawled with (the job's,
    # checked). Always written now; None only in manifests from before it existed.
    config_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    # The attempt (queue lease id) that landed the pages; None: the layout before
    # attempt folders. A landing's manifest only ever moves to a newer attempt.
    attempt: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        expected = run_prefix("", self.endpoint, self.slot_start, self.run_id)
        if not self.prefix.endswith(expected):
            raise ValueError(f"prefix {self.prefix!r} is not the run's layout prefix (…/{expected})")
        for position, page in enumerate(self.pages, start=1):
            if page.index != position:
                raise ValueError(
                    f"pages must be listed in order 1..n without gaps; found index {page.index} at position {position}"
                )
            expected_key = page_key(self.prefix, page.index, self.attempt)
            if page.key != expected_key:
                raise ValueError(f"page {page.index} key {page.key!r} is not {expected_key!r}")
        totals = (len(self.pages), sum(p.records for p in self.pages), sum(p.bytes for p in self.pages))
        if (self.total_pages, self.total_records, self.total_bytes) != totals:
            raise ValueError(
                f"totals (pages, records, bytes) = {(self.total_pages, self.total_records, self.total_bytes)} "
                f"do not match the pages listed {totals}"
            )
        return self

    @classmethod
    def build(
        cls,
        *,
        run_id: str,
        endpoint: str,
        slot_start: datetime,
        slot_end: datetime,
        prefix: str,
        pages: list[ManifestPage],
        started_at: datetime,
        finished_at: datetime,
        worker_id: str | None = None,
        incremental: CursorRange | None = None,
        config_hash: str | None = None,
        attempt: int | None = None,
    ) -> Manifest:
        """A manifest with its totals computed from the pages."""
        return cls(
            run_id=run_id,
            endpoint=endpoint,
            slot_start=slot_start,
            slot_end=slot_end,
            prefix=prefix,
            pages=pages,
            total_pages=len(pages),
            total_records=sum(p.records for p in pages),
            total_bytes=sum(p.bytes for p in pages),
            started_at=started_at,
            finished_at=finished_at,
            worker_id=worker_id,
            incremental=incremental,
            config_hash=config_hash,
            attempt=attempt,
        )

    @property
    def key(self) -> str:
        return manifest_key(self.prefix)

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        return cls.model_validate_json(data)
