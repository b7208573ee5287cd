"""Finding the complete raw landings a transform reads: by run, or by slot range (by manifest)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from lakehouse.config.settings import S3Settings
from lakehouse.errors import LakehouseError
from lakehouse.raw.layout import (
    MANIFEST_NAME,
    Manifest,
    day_prefixes,
    endpoint_prefix,
    manifest_key,
    parse_manifest_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # pragma: no cover

log = logging.getLogger(__name__)


class RawLandingError(LakehouseError):
    """The raw landing a transform was asked for cannot be used."""


class ManifestNotFoundError(RawLandingError):
    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(
            f"no manifest at s3://{bucket}/{key}: the landing is incomplete (still crawling, or the "
            "crawl failed) or the key is wrong. Pass the run's prefix or its _manifest.json key "
            "(the s3_path of the run's signal row), or rerun the crawl."
        )


class InvalidManifestError(RawLandingError):
    def __init__(self, bucket: str, key: str, details: str) -> None:
        super().__init__(
            f"s3://{bucket}/{key} is not a valid manifest: {details}. It was written by another "
            "version of the crawler, or edited by hand; rerun the crawl of that slot."
        )


class NoLandingsError(RawLandingError):
    def __init__(self, endpoint: str, start: datetime, end: datetime, prefix: str) -> None:
        super().__init__(
            f"no complete landings of {endpoint} for slots in [{start.isoformat()}, {end.isoformat()}) "
            f"under {prefix}: check the endpoint name and the range, or crawl those slots first."
        )


class EndpointMismatchError(RawLandingError):
    def __init__(self, key: str, found: str, expected: str) -> None:
        super().__init__(
            f"{key} is a landing of endpoint {found}, not {expected}: pass --endpoint {found}, "
            "or the prefix of a run of the endpoint you meant."
        )


class ForeignBucketError(RawLandingError):
    def __init__(self, ref: str, bucket: str) -> None:
        super().__init__(
            f"{ref} is not in the configured bucket {bucket!r}: raw landings are read from "
            "settings s3.bucket; pass a key in it, or run with the settings of that bucket."
        )


def manifest_key_for(ref: str, bucket: str) -> str:
    """A run's manifest key from its prefix, its manifest key, or an s3:// URI of either."""
    key = ref
    if ref.startswith("s3://"):
        ref_bucket, _, key = ref[len("s3://") :].partition("/")
        if ref_bucket != bucket:
            raise ForeignBucketError(ref, bucket)
    if key.endswith(MANIFEST_NAME):
        return key
    return manifest_key(key if key.endswith("/") else key + "/")


def read_manifest(client: S3Client, bucket: str, key: str) -> Manifest:
    from botocore.exceptions import ClientError
    from pydantic import ValidationError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise ManifestNotFoundError(bucket, key) from exc
        raise
    try:
        return Manifest.from_json(body)
    except ValidationError as exc:
        raise InvalidManifestError(bucket, key, str(exc).splitlines()[0]) from exc


def manifest_keys_in_range(
    client: S3Client, s3: S3Settings, endpoint: str, start: datetime, end: datetime
) -> list[str]:
    """Manifest keys of ``endpoint`` whose slot starts in [start, end), oldest first.

    Listed by day prefix (ds=...): the layout puts the slot in the key, so a backfill
    lists only the days it covers, never the endpoint's whole history.
    """
    found: list[tuple[datetime, str]] = []
    paginator = client.get_paginator("list_objects_v2")
    for prefix in day_prefixes(s3.raw_prefix, endpoint, start, end):
        for page in paginator.paginate(Bucket=s3.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                landing = parse_manifest_key(obj["Key"])
                if landing is not None and landing.endpoint == endpoint and start <= landing.slot_start < end:
                    found.append((landing.slot_start, obj["Key"]))
    if not found:
        raise NoLandingsError(endpoint, start, end, f"s3://{s3.bucket}/{endpoint_prefix(s3.raw_prefix, endpoint)}")
    return [key for _, key in sorted(found)]


def latest_per_slot(manifests: list[Manifest]) -> list[Manifest]:
    """One landing per slot: its partition is replaced as a whole, so two landings of
    one slot (a forced re-crawl under another run id) would duplicate rows."""
    chosen: dict[datetime, Manifest] = {}
    for m in manifests:
        current = chosen.get(m.slot_start)
        if current is None or m.finished_at > current.finished_at:
            if current is not None:
                log.warning("slot %s has two landings; using %s over %s", m.slot_start, m.run_id, current.run_id)
            chosen[m.slot_start] = m
    return [chosen[slot] for slot in sorted(chosen)]


def resolve_manifests(
    client: S3Client,
    s3: S3Settings,
    endpoint: str,
    runs: Sequence[str],
    slot_range: tuple[datetime, datetime] | None,
) -> list[Manifest]:
    """The manifests of ``runs`` (prefixes or manifest keys) and of every complete
    landing with a slot start in ``slot_range``, one per slot, oldest first."""
    keys = [manifest_key_for(ref, s3.bucket) for ref in runs]
    if slot_range is not None:
        keys += manifest_keys_in_range(client, s3, endpoint, *slot_range)
    manifests = []
    for key in dict.fromkeys(keys):
        manifest = read_manifest(client, s3.bucket, key)
        if manifest.endpoint != endpoint:
            raise EndpointMismatchError(key, manifest.endpoint, endpoint)
        manifests.append(manifest)
    return latest_per_slot(manifests)
