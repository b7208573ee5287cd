"""A raw page's records: parsed as JSON, located by the endpoint's records_path.

Pages are parsed with orjson, and with json when orjson refuses a page, so big
integers and the like mean what they meant; records are located with the crawler's
own JMESPath extractor, so ``records_path`` means the same on both sides. A page that
cannot be used is one quarantine entry holding its text (cut to a bound).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from lakehouse.endpoints import extract
from lakehouse.transform.typer import QuarantineEntry

# Quarantine keeps the evidence, but one giant unparseable page must not become a
# multi-megabyte cell; the reason says when the text was cut.
MAX_EVIDENCE_CHARS = 65536


def _evidence(text: str) -> tuple[str, str]:
    if len(text) <= MAX_EVIDENCE_CHARS:
        return text, ""
    return text[:MAX_EVIDENCE_CHARS], f" (evidence cut to the first {MAX_EVIDENCE_CHARS} characters)"


def page_problem(raw_key: str, reason: str, evidence: str = "") -> QuarantineEntry:
    text, note = _evidence(evidence)
    return QuarantineEntry(reason=reason + note, raw_key=raw_key, record=text)


def _load_json(body: bytes) -> Any:
    """orjson where it can (much faster); json where orjson refuses what json accepts
    (integers beyond 64 bits, NaN, other encodings), so a page means what it always did."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def page_records(body: bytes, records_path: str, raw_key: str) -> list[Any] | QuarantineEntry:
    """The records of one page, or one QuarantineEntry when the page itself is unusable."""
    try:
        document = _load_json(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return page_problem(raw_key, f"page is not valid JSON: {exc}", body.decode("utf-8", errors="replace"))
    records = extract(document, records_path)
    if not isinstance(records, list):
        where = f"records_path {records_path!r}" if records_path else "the page body"
        found = "nothing" if records is None else f"a JSON {type(records).__name__}"
        return page_problem(raw_key, f"{where} gave {found}, not a list of records", json.dumps(records))
    return records
