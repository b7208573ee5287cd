"""Raw landing in S3: one object per page, then ``_manifest.json`` last, fenced.

boto3 blocks, so every call runs in the reactor's thread pool (``deferToThread``);
the reactor keeps sending requests while pages upload. A boto3 *client* is safe to
share between threads.

A worker can stall at any instant (GC, SIGSTOP, a VM pause) past its lease while
another worker re-leases the run and lands it; the stalled one then resumes
mid-landing. A lease check before each write cannot fence that (it may stall between
the check and the write), so the fence is in the layout and in S3 itself
(``lakehouse.raw.layout``):

1. ``put_page``: pages go under the attempt's own folder (its lease id), so no page
   write of one attempt touches another attempt's objects;
2. ``complete``: the manifest is the single commit point. Right before it, the lease
   is confirmed in Redis (the common case of a stale worker stops there, with a clear
   reason); then the current manifest is read and replaced only if its attempt is not
   newer than this one, with an S3 conditional write (``If-Match`` its ETag, or
   ``If-None-Match: *`` when there is none). A write that lost a race gets 412 and
   decides again on what is there now, so an older attempt never replaces a newer
   attempt's manifest, however long it stalled and wherever;
3. after the commit, page objects of *older* attempts under the run prefix are
   removed (never of newer ones, never the manifest). Pages that a stale attempt
   writes after that are removed by the run's next landing.

Until the new manifest is written the old one (and its pages, in their own folder)
stays the landing readers see, so there is nothing to clear when a landing begins,
and no moment at which a half-written landing looks complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_delay, wait_exponential
from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThread

from lakehouse.raw.layout import Manifest, attempt_of, attempt_prefix
from scrapworker.errors import LandingSupersededError, ManifestContendedError
from scrapworker.fault_points import FaultPoints

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover

logger = logging.getLogger(__name__)

# An S3 server that restarts or blips must not fail a crawl whose API answered fine:
# botocore's own retries (5 attempts, jittered) span only a few seconds, so an outage
# of ~10 s failed the jobs whose pages were uploading (found by tests/integration/
# reliability/test_reliability_worker_outages.py). Each landing call is retried on
# connection errors for up to this long; the crawl goes on meanwhile (pages wait in
# memory, about rate x outage of them). Every call is idempotent: same key, same bytes
# (a manifest write that succeeded but whose reply was lost is retried, finds its own
# attempt's manifest and writes it again).
S3_OUTAGE_SECONDS = 60.0

# 412s in a row before the commit gives up: each one means another attempt's manifest
# was written between our read and our write, which only a runaway writer repeats.
MAX_COMMIT_TRIES = 5

# Error codes of a failed S3 precondition: 412, and 409 "ConditionalRequestConflict"
# (AWS, when two conditional writes to one key race).
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})

_ride_out = retry(
    retry=retry_if_exception_type((BotoConnectionError, HTTPClientError)),
    wait=wait_exponential(multiplier=0.5, max=5),
    stop=stop_after_delay(S3_OUTAGE_SECONDS),
    before_sleep=before_sleep_log(logger, logging.WARNING),
    reraise=True,
)


@dataclass(frozen=True)
class CurrentManifest:
    """The run's manifest as read just before a commit."""

    etag: str
    attempt: int  # 0: written before attempt folders, or unreadable


class CommitAction(Enum):
    CREATE = "create"  # no manifest yet: write with If-None-Match: *
    REPLACE = "replace"  # an older (or this) attempt's: write with If-Match its ETag
    REFUSE = "refuse"  # a newer attempt's: never replace it


def decide_commit(attempt: int, current: CurrentManifest | None) -> CommitAction:
    """Whether attempt ``attempt`` may write the run's manifest over ``current``.

    Its own attempt's manifest (a retried write whose first reply was lost) is
    replaced: same pages, same keys."""
    if current is None:
        return CommitAction.CREATE
    return CommitAction.REPLACE if current.attempt <= attempt else CommitAction.REFUSE


def manifest_attempt(body: bytes) -> int:
    """The attempt recorded in a manifest's bytes: 0 for one written before attempt
    folders, and for one that is not a manifest at all (it is replaced, not trusted)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return 0
    attempt = doc.get("attempt") if isinstance(doc, dict) else None
    return attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and attempt > 0 else 0


def _is_precondition_failure(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in _PRECONDITION_CODES or status in (409, 412)


class RawLanding:
    def __init__(self, client: S3Client, bucket: str, points: FaultPoints | None = None) -> None:
        self.client = client
        self.bucket = bucket
        # Test hook (worker.pause_at), off unless configured.
        self.points = points or FaultPoints()

    # -- blocking calls (run in a thread) --------------------------------------------

    def _put_page(self, key: str, body: bytes) -> None:
        self.points.reach("page_upload", key)
        _ride_out(self._put)(key, body)

    def _put(self, key: str, body: bytes, **conditions: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **conditions)

    @_ride_out
    def read_current(self, key: str) -> CurrentManifest | None:
        """The run's manifest now (its ETag and attempt), or None when it has none."""
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return CurrentManifest(etag=got["ETag"], attempt=manifest_attempt(got["Body"].read()))

    @_ride_out
    def _write_manifest(self, manifest: Manifest, current: CurrentManifest | None) -> bool:
        """One conditional write; False when its precondition failed (someone wrote
        the manifest since ``current`` was read)."""
        conditions = {"IfNoneMatch": "*"} if current is None else {"IfMatch": current.etag}
        try:
            self._put(manifest.key, manifest.to_json_bytes(), **conditions)
        except ClientError as exc:
            if _is_precondition_failure(exc):
                return False
            raise
        return True

    def _commit(self, manifest: Manifest, attempt: int) -> None:
        for _ in range(MAX_COMMIT_TRIES):
            current = self.read_current(manifest.key)
            if decide_commit(attempt, current) is CommitAction.REFUSE:
                assert current is not None
                removed = self._remove_own_pages(manifest.prefix, attempt)
                raise LandingSupersededError(manifest.run_id, attempt, current.attempt, removed)
            self.points.reach("manifest", manifest.key)
            if self._write_manifest(manifest, current):
                return
            logger.info("run %s: the manifest changed while committing; reading it again", manifest.run_id)
        raise ManifestContendedError(manifest.key, MAX_COMMIT_TRIES)

    def _remove_own_pages(self, prefix: str, attempt: int) -> bool:
        """A refused attempt's pages: no manifest lists them, and none ever will (the
        current one is newer, and manifests only move forward), so they go now."""
        own = attempt_prefix(prefix, attempt)
        try:
            self._delete_where(own, lambda _key: True)
        except Exception:  # noqa: BLE001 - best effort: the run's next landing removes them too
            logger.warning("could not remove the pages of a superseded attempt under %s", own, exc_info=True)
            return False
        return True

    @_ride_out
    def _delete_where(self, prefix: str, doomed: Callable[[str], bool]) -> int:
        stale: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for listing in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            stale.extend({"Key": obj["Key"]} for obj in listing.get("Contents", []) if doomed(obj["Key"]))
        for start in range(0, len(stale), 1000):
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": stale[start : start + 1000], "Quiet": True}
            )
        return len(stale)

    def remove_older_attempts(self, prefix: str, attempt: int) -> int:
        """Remove page objects of attempts older than ``attempt`` under the run prefix
        (and pages of the layout before attempt folders); never the manifest, never a
        newer attempt's. Only the attempt whose manifest is current calls this."""

        def older(key: str) -> bool:
            wrote = attempt_of(prefix, key)
            return wrote is not None and wrote < attempt

        return self._delete_where(prefix, older)

    def _complete(self, manifest: Manifest, confirm_lease: Callable[[], None]) -> int:
        attempt = manifest.attempt
        if attempt is None:
            raise ValueError("a landing's manifest must name its attempt (the lease id)")
        confirm_lease()  # raises LeaseLostError: the common stale case, before any read
        self._commit(manifest, attempt)
        return self.remove_older_attempts(manifest.prefix, attempt)

    # -- the reactor-side API ----------------------------------------------------------

    def begin(self, prefix: str) -> Deferred[None]:
        """Nothing to prepare: this attempt writes only into its own folder, and the
        run's current manifest (if any) stays the landing until ``complete`` replaces it."""
        return succeed(None)

    def put_page(self, key: str, body: bytes) -> Deferred[None]:
        return deferToThread(self._put_page, key, body)

    def complete(self, manifest: Manifest, confirm_lease: Callable[[], None]) -> Deferred[int]:
        """Commit the manifest (fenced, see the module doc), then remove older attempts'
        pages. Fires with the number removed; fails with ``LeaseLostError`` or
        ``LandingSupersededError`` when this attempt may not land."""
        return deferToThread(self._complete, manifest, confirm_lease)
