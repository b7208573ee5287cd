"""Typing raw records against an endpoint's declared table: pure Python, no Spark.

Each record either becomes one row of Python values Spark can take as they are
(int, Decimal, aware datetime, ...) or one quarantine entry whose reason names every
column that did not fit. Nothing is dropped without a row that says why.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from lakehouse.endpoints import Column, Table, extract

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
_INT_TEXT = re.compile(r"^[+-]?\d+$")
# Quarantine keeps the evidence, but one giant unparseable page must not become a
# multi-megabyte cell; the reason says when the text was cut.
MAX_EVIDENCE_CHARS = 65536

SPARK_TYPES: dict[str, str] = {
    "string": "string",
    "int": "int",
    "long": "bigint",
    "double": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


class ValueMismatch(ValueError):
    """A value does not fit its column; the message becomes part of a quarantine reason."""


@dataclass(frozen=True)
class QuarantineEntry:
    reason: str
    raw_key: str
    record: str  # the record (or page text) as JSON, so it can be replayed


@dataclass
class PageResult:
    rows: list[tuple[Any, ...]]
    quarantined: list[QuarantineEntry]


def spark_type(column: Column) -> str:
    return column.type if column.decimal else SPARK_TYPES[column.type]


def columns_ddl(table: Table) -> str:
    return ", ".join(f"`{c.name}` {spark_type(c)}" for c in table.columns)


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _to_integer(value: Any, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool):
        raise ValueMismatch("a boolean is not an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_TEXT.match(value.strip()):
        number = int(value.strip())
    else:
        raise ValueMismatch("not an integer")
    if not bounds[0] <= number <= bounds[1]:
        raise ValueMismatch(f"out of range {bounds[0]}..{bounds[1]}")
    return number


def _to_double(value: Any) -> float:
    if _is_number(value):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueMismatch("not a number") from None
    else:
        raise ValueMismatch("not a number")
    if not math.isfinite(number):
        raise ValueMismatch("not a finite number")
    return number


def _to_decimal(value: Any, precision: int, scale: int) -> Decimal:
    if not (_is_number(value) or isinstance(value, str)):
        raise ValueMismatch("not a decimal number")
    try:
        # str() of a float is its shortest repr (0.1, not 0.1000000000000000055...).
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueMismatch("not a decimal number") from None
    if not number.is_finite():
        raise ValueMismatch("not a finite number")
    with localcontext() as ctx:
        ctx.prec = 100
        quantized = number.quantize(Decimal(1).scaleb(-scale))
    # Rounding would change what the API said: refuse instead of guessing.
    if quantized != number:
        raise ValueMismatch(f"has more than {scale} decimal places")
    if len(quantized.as_tuple().digits) > precision:
        raise ValueMismatch(f"has more than {precision - scale} digits before the decimal point")
    return quantized


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueMismatch("not a boolean")


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        raise ValueMismatch("an object or list, not a scalar")
    return json.dumps(value)


def _epoch(value: Any, unit: str) -> datetime:
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if _INT_TEXT.match(text) else _to_double(text)
    if not _is_number(value):
        raise ValueMismatch(f"not an epoch number ({unit})")
    try:
        if unit == "epoch_ms":
            # Integer milliseconds stay exact; float division would blur the last digit.
            return EPOCH + (timedelta(milliseconds=value) if isinstance(value, int) else timedelta(seconds=value / 1000))
        return EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):
        raise ValueMismatch(f"out of range as {unit}") from None


def _iso_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueMismatch("not an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueMismatch("not an ISO-8601 timestamp") from None
    # APIs that omit the offset mean UTC in practice; the session time zone is UTC too.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _to_timestamp(value: Any, fmt: str | None) -> datetime:
    return _iso_timestamp(value) if fmt == "iso" else _epoch(value, fmt or "epoch_ms")


def _to_date(value: Any, fmt: str | None) -> date:
    if fmt in ("epoch_ms", "epoch_s"):
        return _epoch(value, fmt).date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return _iso_timestamp(value).date()
    raise ValueMismatch("not an ISO-8601 date")


def converter(column: Column) -> Callable[[Any], Any]:
    """A function turning one JSON value into the column's Python value, or raising."""
    if column.decimal:
        precision, scale = column.decimal
        return lambda v: _to_decimal(v, precision, scale)
    simple: dict[str, Callable[[Any], Any]] = {
        "string": _to_string,
        "int": lambda v: _to_integer(v, INT_RANGE),
        "long": lambda v: _to_integer(v, LONG_RANGE),
        "double": _to_double,
        "boolean": _to_bool,
        "timestamp": lambda v: _to_timestamp(v, column.format),
        "date": lambda v: _to_date(v, column.format),
    }
    return simple[column.type]


class RecordTyper:
    """Types records of one table; converters are built once per job, not per record."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._columns = [(c, converter(c)) for c in table.columns]

    def type_record(self, record: Any) -> tuple[tuple[Any, ...] | None, str | None]:
        """(row, None) when every column fits, else (None, reason naming each misfit)."""
        if not isinstance(record, dict):
            return None, f"record is a JSON {type(record).__name__}, not an object"
        values: list[Any] = []
        problems: list[str] = []
        for column, convert in self._columns:
            raw = extract(record, column.path)
            if raw is None:
                if column.required:
                    problems.append(f"{column.name}: required, but {column.path!r} is missing or null")
                values.append(None)
                continue
            try:
                values.append(convert(raw))
            except ValueMismatch as exc:
                problems.append(f"{column.name}: {_describe(raw)} at {column.path!r}: {exc} (declared {column.type})")
                values.append(None)
        return (None, "; ".join(problems)) if problems else (tuple(values), None)


def _evidence(text: str) -> tuple[str, str]:
    if len(text) <= MAX_EVIDENCE_CHARS:
        return text, ""
    return text[:MAX_EVIDENCE_CHARS], f" (evidence cut to the first {MAX_EVIDENCE_CHARS} characters)"


def page_problem(raw_key: str, reason: str, evidence: str = "") -> QuarantineEntry:
    text, note = _evidence(evidence)
    return QuarantineEntry(reason=reason + note, raw_key=raw_key, record=text)


def iter_page_records(body: bytes, records_path: str, raw_key: str) -> Iterator[Any | QuarantineEntry]:
    """The records of one page, or one QuarantineEntry when the page itself is unusable."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield page_problem(raw_key, f"page is not valid JSON: {exc}", body.decode("utf-8", errors="replace"))
        return
    records = extract(document, records_path)
    if not isinstance(records, list):
        where = f"records_path {records_path!r}" if records_path else "the page body"
        found = "nothing" if records is None else f"a JSON {type(records).__name__}"
        yield page_problem(raw_key, f"{where} gave {found}, not a list of records", json.dumps(records))
        return
    yield from records


def split_page(typer: RecordTyper, body: bytes, records_path: str, raw_key: str) -> PageResult:
    result = PageResult(rows=[], quarantined=[])
    for item in iter_page_records(body, records_path, raw_key):
        if isinstance(item, QuarantineEntry):
            result.quarantined.append(item)
            continue
        row, reason = typer.type_record(item)
        if row is not None:
            result.rows.append(row)
        else:
            assert reason is not None
            result.quarantined.append(
                QuarantineEntry(reason=reason, raw_key=raw_key, record=json.dumps(item, sort_keys=True))
            )
    return result
