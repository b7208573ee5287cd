"""Raw landing in S3: one object per page, then ``_manifest.json`` last.

boto3 blocks, so every call runs in the reactor's thread pool (``deferToThread``);
the reactor keeps sending requests while pages upload. A boto3 *client* is safe to
share between threads.

Order of a landing (the manifest is the truth, ARCHITECTURE "Raw layout"):

1. ``begin``: delete the run's old manifest, so during a rerun the prefix reads as
   incomplete instead of as an old landing whose pages are being overwritten;
2. ``put_page`` for every page (deterministic keys: a rerun overwrites them);
3. ``complete``: delete page objects of an earlier, longer run that the new manifest
   does not list, then write the manifest.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_delay, wait_exponential
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from lakehouse.raw_layout import MANIFEST_NAME, Manifest, manifest_key
from scrapworker.fault_points import FaultPoints

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover

logger = logging.getLogger(__name__)

# An S3 server that restarts or blips must not fail a crawl whose API answered fine:
# botocore's own retries (5 attempts, jittered) span only a few seconds, so an outage
# of ~10 s failed the jobs whose pages were uploading (found by tests/integration/
# reliability/test_reliability_worker_outages.py). Each landing call is retried on
# connection errors for up to this long; the crawl goes on meanwhile (pages wait in
# memory, about rate x outage of them). Every call is idempotent: same key, same bytes.
S3_OUTAGE_SECONDS = 60.0

_ride_out = retry(
    retry=retry_if_exception_type((BotoConnectionError, HTTPClientError)),
    wait=wait_exponential(multiplier=0.5, max=5),
    stop=stop_after_delay(S3_OUTAGE_SECONDS),
    before_sleep=before_sleep_log(logger, logging.WARNING),
    reraise=True,
)


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

    def _put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    @_ride_out
    def _delete_manifest(self, prefix: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=manifest_key(prefix))

    @_ride_out
    def _complete(self, manifest: Manifest) -> int:
        keep = {page.key for page in manifest.pages}
        stale: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for listing in paginator.paginate(Bucket=self.bucket, Prefix=manifest.prefix):
            for obj in listing.get("Contents", []):
                key = obj["Key"]
                if key not in keep and not key.endswith("/" + MANIFEST_NAME):
                    stale.append({"Key": key})
        for start in range(0, len(stale), 1000):
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": stale[start : start + 1000], "Quiet": True}
            )
        self.points.reach("manifest", manifest.key)
        self._put(manifest.key, manifest.to_json_bytes())
        return len(stale)

    # -- the reactor-side API ----------------------------------------------------------

    def begin(self, prefix: str) -> Deferred[None]:
        return deferToThread(self._delete_manifest, prefix)

    def put_page(self, key: str, body: bytes) -> Deferred[None]:
        return deferToThread(self._put_page, key, body)

    def complete(self, manifest: Manifest) -> Deferred[int]:
        """Remove stale pages, then write the manifest. Fires with the number removed."""
        return deferToThread(self._complete, manifest)
