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
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from lakehouse.endpoints.jsonpath import extract
from lakehouse.errors import EndpointConfigError, LakehouseError
from lakehouse.queue.jobs import run_id_for
from lakehouse.raw import layout as raw_layout
from lakehouse.raw.storage import object_exists, read_object

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


def config_problem(config: EndpointConfig) -> str | None:
    """Why ``config.parent`` cannot work with the rest of this one config, or None."""
    parent = config.parent
    assert parent is not None
    if parent.endpoint == config.name:
        return f"parent.endpoint: {config.name!r} cannot be its own parent"
    token = "{" + parent.placeholder + "}"
    if token not in config.request.url:
        return f"parent.placeholder: request.url must contain {token}, where each parent record's {parent.field} goes"
    if token in urlsplit(config.request.url).netloc:
        # A parent record would choose the host that receives the credential.
        return f"parent.placeholder: {token} must be in request.url's path, not its host or port"
    return None


def graph_problems(configs: Iterable[tuple[Path, EndpointConfig]]) -> dict[Path, list[tuple[str, str]]]:
    """Rules across files: the parent exists, shares the schedule, and no chain of
    parents loops back. Problems keyed by the child's file."""
    by_name = {config.name: (path, config) for path, config in configs}
    problems: dict[Path, list[tuple[str, str]]] = {}
    for name, (path, config) in by_name.items():
        if config.parent is None:
            continue
        found = by_name.get(config.parent.endpoint)
        if found is None:
            problems.setdefault(path, []).append(
                (
                    "parent.endpoint",
                    f"no valid endpoint config {config.parent.endpoint!r} in this directory; "
                    "add it (or fix its errors) or correct the name",
                )
            )
            continue
        if found[1].schedule != config.schedule:
            problems.setdefault(path, []).append(
                (
                    "schedule",
                    f"{config.schedule!r} differs from parent {found[1].name}'s {found[1].schedule!r}; "
                    "a child reads its parent's landing of the same slot, so they share the schedule",
                )
            )
        chain = [name]
        current: EndpointConfig | None = config
        while current is not None and current.parent is not None:
            step = current.parent.endpoint
            if step in chain:
                loop = " -> ".join([*chain[chain.index(step) :], step])
                problems.setdefault(path, []).append(("parent.endpoint", f"parent cycle: {loop}; break the loop"))
                break
            chain.append(step)
            entry = by_name.get(step)
            current = entry[1] if entry else None
    return problems


def validated(
    configs: list[EndpointConfig], loaded: list[tuple[Path, EndpointConfig]], source: Any
) -> tuple[list[EndpointConfig], list[EndpointConfigError]]:
    """``configs`` without the ones whose parent rules fail, and one error per such file
    (``source`` renders a path as the loader names files)."""
    names = {c.name for c in configs}
    problems = graph_problems([(p, c) for p, c in loaded if c.name in names])
    bad = {c.name for p, c in loaded if p in problems}
    # A child of a refused parent is refused too: its DAG would wait forever.
    changed = True
    while changed:
        changed = False
        for path, config in loaded:
            if config.parent and config.parent.endpoint in bad and config.name not in bad and config.name in names:
                bad.add(config.name)
                problems.setdefault(path, []).append(
                    ("parent.endpoint", f"parent {config.parent.endpoint!r} is itself invalid; fix it first")
                )
                changed = True
    errors = [EndpointConfigError(source(path), found) for path, found in problems.items()]
    return [c for c in configs if c.name not in bad], errors


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


def child_url(url: str, placeholder: str, key: str) -> str:
    """The child's URL for one parent value, percent-encoded as one path segment."""
    return url.replace("{" + placeholder + "}", quote(key, safe=""))


def parent_landed(settings: Settings, config: EndpointConfig, slot_start: datetime) -> bool:
    """True when the child's parent has landed the slot (its manifest exists)."""
    from lakehouse.raw.storage import s3_client

    assert config.parent is not None
    s3 = settings.s3
    child_prefix = raw_layout.run_prefix(s3.raw_prefix, config.name, slot_start, run_id_for(config.name, slot_start))
    key = parent_manifest_key(child_prefix, config.name, config.parent.endpoint, slot_start)
    return object_exists(s3_client(s3), s3.bucket, key)
