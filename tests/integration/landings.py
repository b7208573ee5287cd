"""Raw landings and endpoint configs as the crawler would leave them, for the
integration tests that start from S3 (raw_to_table, Spark Connect, notebooks, Trino):
one copy, imported by the tests and the shared conftest."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from lakehouse.queue.jobs import run_id_for
from lakehouse.raw.layout import Manifest, ManifestPage, page_key, run_prefix, sha256_hex
from lakehouse.raw.storage import s3_client

#: The attempt (lease id) these landings are written as: below any real lease id, so a
#: worker that crawls the same slot later lands over them as a newer attempt.
ATTEMPT = 1

#: The sandbox trade columns most tests declare.
TRADE_COLUMNS: list[dict[str, object]] = [
    {"name": "trade_id", "path": "id", "type": "long", "required": True},
    {"name": "price", "path": "price", "type": "decimal(18,8)"},
    {"name": "traded_at", "path": "time", "type": "timestamp", "format": "epoch_ms", "required": True},
    {"name": "venue_code", "path": "venue.code", "type": "string"},
]


def endpoint_doc(
    name: str, table: str | None = None, columns: list[dict[str, object]] | None = None, **table_options: object
) -> dict[str, object]:
    """An endpoint config (as YAML would load) into market.<table or name>: the sandbox
    trade columns unless ``columns`` are given; ``table_options`` go into ``table:``
    (``write="merge"``, ``primary_key=[...]``, ...)."""
    return {
        "name": name,
        "request": {"url": "http://127.0.0.1:18080/v1/offset"},
        "rate_limit": {"requests_per_second": 5},
        "schedule": "*/15 * * * *",
        "response_map": {"records_path": "data.items"},
        "table": {
            "namespace": "market",
            "name": table or name,
            **table_options,
            "columns": [dict(c) for c in (TRADE_COLUMNS if columns is None else columns)],
        },
    }


def land(settings, endpoint: str, slot: datetime, pages: list[list[object]], *, manifest: bool = True) -> str:
    """Write one run's pages (and, unless told not to, its manifest) like the crawler does."""
    client = s3_client(settings.s3)
    run_id = run_id_for(endpoint, slot)
    prefix = run_prefix(settings.s3.raw_prefix, endpoint, slot, run_id)
    listed = []
    for index, records in enumerate(pages, start=1):
        body = json.dumps({"data": {"items": records}, "total": len(records)}).encode()
        key = page_key(prefix, index, ATTEMPT)
        client.put_object(Bucket=settings.s3.bucket, Key=key, Body=body)
        listed.append(
            ManifestPage(
                index=index,
                key=key,
                url=f"http://127.0.0.1:18080/v1/offset?offset={index}",
                status_code=200,
                records=len(records),
                bytes=len(body),
                sha256=sha256_hex(body),
                fetched_at=slot + timedelta(minutes=15, seconds=index),
                elapsed_seconds=0.01,
            )
        )
    if manifest:
        done = Manifest.build(
            run_id=run_id,
            endpoint=endpoint,
            slot_start=slot,
            slot_end=slot + timedelta(minutes=15),
            prefix=prefix,
            pages=listed,
            started_at=slot + timedelta(minutes=15),
            finished_at=slot + timedelta(minutes=16),
            attempt=ATTEMPT,
        )
        client.put_object(Bucket=settings.s3.bucket, Key=done.key, Body=done.to_json_bytes())
    return prefix
