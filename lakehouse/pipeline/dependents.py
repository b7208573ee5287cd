"""Dependent endpoints: a child crawled once per record its parent landed for the slot.

``parent: {endpoint: orders, field: id, placeholder: order_id}`` on endpoint
``order_items`` (request.url ``.../orders/{order_id}/items``) makes its job for a
slot read the parent's landing of the *same* slot (the raw pages its manifest
lists), take ``field`` of every parent record, and send one request sequence
(pagination included) per distinct value, all under the child's rate limit, into
one landing whose manifest lists every page with the value it was fetched for
(``ManifestPage.parent_key``). Parent and child share a schedule, so "the same
slot" is the same run-id time; the child's DAG waits for the parent's landing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lakehouse.endpoints.jsonpath import extract
from lakehouse.errors import LakehouseError
from lakehouse.queue.jobs import run_id_for
from lakehouse.raw import layout as raw_layout
from lakehouse.raw.storage import object_exists, read_object, s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from lakehouse.config.settings import Settings
    from lakehouse.endpoints import EndpointConfig

# Parent values go into a URL path: a few thousand characters at most.
MAX_KEY_LENGTH = 1000


class ParentNotLandedError(LakehouseError):
    def __init__(self, child: str, parent: str, slot_start: datetime) -> None:
        super().__init__(
            f"{child} depends on {parent}, which has not landed the slot {slot_start:%Y-%m-%d %H:%M} UTC "
            f"(no manifest): run ingest_{parent} for that slot first, then retry this crawl"
        )


class ParentRecordError(LakehouseError):
    """A parent record the child cannot be crawled for."""


# --- the parent's landing ---------------------------------------------------------------


def parent_manifest_key(raw_prefix: str, child: str, parent: str, slot_start: datetime) -> str:
    """The manifest key of the parent's landing of the slot whose child landing is at
    ``raw_prefix`` (the same raw base, the same slot)."""
    suffix = raw_layout.run_prefix("", child, slot_start, run_id_for(child, slot_start))
    base = raw_prefix[: len(raw_prefix) - len(suffix)]
    return raw_layout.manifest_key(raw_layout.run_prefix(base, parent, slot_start, run_id_for(parent, slot_start)))


def keys_of(records: Iterable[Any], field: str, page: int) -> list[str]:
    """``field`` of each parent record, as text."""
    out: list[str] = []
    for position, record in enumerate(records, start=1):
        value = extract(record, field)
        if value is None or isinstance(value, bool | dict | list) or str(value) == "":
            raise ParentRecordError(
                f"parent page {page}, record {position}: {field!r} is missing or not a single value "
                f"({type(value).__name__}); the child needs one value per parent record (parent.field)"
            )
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        if len(text) > MAX_KEY_LENGTH:
            raise ParentRecordError(f"parent page {page}, record {position}: {field!r} is over {MAX_KEY_LENGTH} chars")
        out.append(text)
    return out


def read_parent_keys(
    client: S3Client, bucket: str, manifest_key: str, records_path: str, field: str, *, child: str, parent: str
) -> list[str]:
    """The distinct ``field`` values of the parent landing's records, in landing order
    (blocking: call it from a thread)."""
    body = read_object(client, bucket, manifest_key)
    if body is None:
        landing = raw_layout.parse_manifest_key(manifest_key)
        assert landing is not None
        raise ParentNotLandedError(child, parent, landing.slot_start)
    manifest = raw_layout.Manifest.from_json(body)
    seen: dict[str, None] = {}
    for page in manifest.pages:
        data = json.loads(client.get_object(Bucket=bucket, Key=page.key)["Body"].read())
        records = extract(data, records_path) if records_path else data
        for key in keys_of(records or [], field, page.index):
            seen.setdefault(key, None)
    return list(seen)


def parent_landed(settings: Settings, config: EndpointConfig, slot_start: datetime) -> bool:
    """True when the child's parent has landed the slot (its manifest exists)."""

    assert config.parent is not None
    s3 = settings.s3
    child_prefix = raw_layout.run_prefix(s3.raw_prefix, config.name, slot_start, run_id_for(config.name, slot_start))
    key = parent_manifest_key(child_prefix, config.name, config.parent.endpoint, slot_start)
    return object_exists(s3_client(s3), s3.bucket, key)
