"""Typing raw records against an endpoint's declared table, into Arrow columns: no Spark.

Each record either becomes one row of an Arrow table of the declared column types
(exact decimal128, timestamp[us, UTC], ...) or one quarantine entry whose reason names
every column that did not fit. Nothing is dropped without a row that says why.

How (``ArrowTyper``): pages are parsed with orjson (json when orjson refuses a page,
so big integers and the like mean what they meant), the records are located with the
crawler's own JMESPath extractor, and then each column is built for a whole chunk of
records at once: the column's values are gathered into a list (dotted paths by plain
dict lookups, which is what JMESPath does for them; any other path through JMESPath
itself), and the canonical encodings are converted vectorised with pyarrow (ints,
floats, booleans and strings as they are; decimal strings by an exact string ->
decimal128 cast after a digit-count check, so no float detour and no silent
rounding; epoch numbers by integer arithmetic; ISO strings by Arrow's ISO-8601 cast).
Every other value - and only those - goes through the one-value converters below
(``converter``), which decide what fits. A record with any misfit is quarantined
with the reason ``RecordTyper`` gives for it, so the reasons read exactly as the
per-record typer's always did.
"""

from __future__ import annotations

import gc
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.endpoints import Column, Table, extract
from lakehouse.endpoints.jsonpath import compile_path
from spark_jobs.tables import quote_parts

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


def spark_type(column: Column) -> str:
    return column.type if column.decimal else SPARK_TYPES[column.type]


def columns_ddl(table: Table) -> str:
    return ", ".join(f"{quote_parts(c.name)} {spark_type(c)}" for c in table.columns)


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
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any double (10**400)
            raise ValueMismatch("out of range for a double") from None
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
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate escape ("\ud800") is valid JSON but no Unicode text:
                # no Parquet string can hold it.
                raise ValueMismatch("not valid Unicode (an unpaired surrogate escape)") from None
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
            return EPOCH + (
                timedelta(milliseconds=value) if isinstance(value, int) else timedelta(seconds=value / 1000)
            )
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
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueMismatch("out of range as a UTC timestamp") from None


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


def _load_json(body: bytes) -> Any:
    """orjson where it can (3-10x faster); json where orjson refuses what json accepts
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


def iter_page_records(body: bytes, records_path: str, raw_key: str) -> Iterator[Any | QuarantineEntry]:
    """The records of one page, or one QuarantineEntry when the page itself is unusable."""
    found = page_records(body, records_path, raw_key)
    if isinstance(found, QuarantineEntry):
        yield found
    else:
        yield from found


# --- Arrow ---------------------------------------------------------------------------

# Spark's TimestampType is an instant; it takes Arrow timestamps with a zone.
TIMESTAMP = pa.timestamp("us", tz="UTC")
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int32(),
    "long": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": TIMESTAMP,
}
# Records typed per call of the vectorised path: large enough that pyarrow's per-call
# cost vanishes, small enough that the parsed Python objects stay a few tens of MB.
CHUNK_RECORDS = 32_768
# Epoch values datetime can hold (years 1..9999): beyond them the one-value converter
# says "out of range", as it always did.
_EPOCH_BOUNDS = {
    "epoch_s": (-62_135_596_800, 253_402_300_799),
    "epoch_ms": (-62_135_596_800_000, 253_402_300_799_999),
}
_MICROS = {"epoch_s": 1_000_000, "epoch_ms": 1_000}
_MIN_TIMESTAMP = pa.scalar(datetime(1, 1, 1, tzinfo=UTC), TIMESTAMP)
_MAX_TIMESTAMP = pa.scalar(datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), TIMESTAMP)
_INT_STRING = r"^-?[0-9]{1,18}$"
_FLOAT_STRING = r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_ISO_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_ISO_ZONED = f"^{_ISO_DATE}[T ]{_ISO_TIME}(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
_ISO_NAIVE = f"^{_ISO_DATE}[T ]{_ISO_TIME}$"
_NONE = type(None)


def arrow_type(column: Column) -> pa.DataType:
    if column.decimal:
        return pa.decimal128(*column.decimal)
    return ARROW_TYPES[column.type]


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c)) for c in table.columns])


def _positions(mask: pa.Array) -> list[int]:
    """Indexes where a boolean array is true (nulls count as false)."""
    return np.flatnonzero(mask.fill_null(False).to_numpy(zero_copy_only=False)).tolist()


def _blank(values: list[Any], positions: list[int]) -> list[Any]:
    out = list(values)
    for i in positions:
        out[i] = None
    return out


def _nulled(array: pa.Array, mask: pa.Array) -> pa.Array:
    return pc.if_else(mask.fill_null(False), pa.scalar(None, array.type), array)


# A fast handler takes the column's values with everything but its own Python class
# set to None, and returns (array of the column's type with nulls where it did not
# decide, positions it left to the one-value converter). It never refuses a value:
# only the one-value converter does, so reasons have one author.
FastHandler = Callable[[list[Any]], tuple[pa.Array, list[int]]]
# The same for values already in an Arrow array of their JSON type (int64, float64,
# bool or string), as pyarrow.json reads them (spark_jobs/arrow_json.py). The list
# handlers build that array and call these, so both paths convert with one code.
ArrayHandler = Callable[[pa.Array], tuple[pa.Array, list[int]]]


def _int64(values: list[Any]) -> tuple[pa.Array, list[int]]:
    try:
        return pa.array(values, pa.int64()), []
    except (OverflowError, pa.ArrowInvalid):
        wide = [i for i, v in enumerate(values) if v is not None and not LONG_RANGE[0] <= v <= LONG_RANGE[1]]
        return pa.array(_blank(values, wide), pa.int64()), wide


def _from_int64(handler: ArrayHandler) -> FastHandler:
    """A handler of Python ints: the int64 ones through ``handler``, wider ones deferred."""

    def from_int(values: list[Any]) -> tuple[pa.Array, list[int]]:
        array, wide = _int64(values)
        array, deferred = handler(array)
        return array, wide + deferred

    return from_int


def _from_typed(handler: ArrayHandler, native: pa.DataType) -> FastHandler:
    return lambda values: handler(pa.array(values, native))


def _bounded(array: pa.Array, low: int, high: int) -> tuple[pa.Array, list[int]]:
    outside = pc.or_(pc.less(array, low), pc.greater(array, high))
    positions = _positions(outside)
    return (_nulled(array, outside) if positions else array), positions


def _matching(strings: pa.Array, pattern: str) -> tuple[pa.Array, list[int]]:
    """Strings matching ``pattern`` (others null), and the positions of the others."""
    fits = pc.match_substring_regex(strings, pattern)
    misfits = pc.and_(pc.is_valid(strings), pc.invert(fits.fill_null(False)))
    positions = _positions(misfits)
    return (_nulled(strings, misfits) if positions else strings), positions


def _cast_or_defer(strings: pa.Array, target: pa.DataType, deferred: list[int]) -> tuple[pa.Array, list[int]]:
    """A safe cast of pre-checked strings; should Arrow still refuse one (a 30 February),
    every value of the group goes to the one-value converter instead."""
    try:
        return pc.cast(strings, target), deferred
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(strings), target), sorted(deferred + _positions(pc.is_valid(strings)))


def _bounded_ints(low: int, high: int, target: pa.DataType) -> ArrayHandler:
    def convert(array: pa.Array) -> tuple[pa.Array, list[int]]:
        array, outside = _bounded(array, low, high)
        return array.cast(target), outside

    return convert


def _integers(low: int, high: int, target: pa.DataType) -> dict[type, FastHandler]:
    def from_str(values: list[Any]) -> tuple[pa.Array, list[int]]:
        strings, other = _matching(pa.array(values, pa.string()), _INT_STRING)
        array, deferred = _cast_or_defer(strings, pa.int64(), other)
        array, outside = _bounded(array, low, high)
        return array.cast(target), deferred + outside

    return {int: _from_int64(_bounded_ints(low, high, target)), str: from_str}


def _finite(array: pa.Array, deferred: list[int]) -> tuple[pa.Array, list[int]]:
    infinite = pc.invert(pc.is_finite(array))
    positions = _positions(infinite)
    return (_nulled(array, infinite) if positions else array), deferred + positions


def _finite_doubles(array: pa.Array) -> tuple[pa.Array, list[int]]:
    return _finite(array, [])


def _doubles() -> dict[type, FastHandler]:
    def from_int(values: list[Any]) -> tuple[pa.Array, list[int]]:
        array, wide = _int64(values)
        return pc.cast(array, pa.float64(), safe=False), wide  # float(int): nearest double

    def from_str(values: list[Any]) -> tuple[pa.Array, list[int]]:
        strings, other = _matching(pa.array(values, pa.string()), _FLOAT_STRING)
        array, deferred = _cast_or_defer(strings, pa.float64(), other)
        return _finite(array, deferred)

    return {float: _from_typed(_finite_doubles, pa.float64()), int: from_int, str: from_str}


def _decimal_pattern(precision: int, scale: int) -> str:
    """Plain decimal text with at most precision - scale integer digits (leading zeros
    aside) and at most scale decimals (trailing zeros aside): exactly the texts whose
    value fits decimal(precision, scale) without rounding."""
    whole = precision - scale
    integer = f"0*[0-9]{{1,{whole}}}" if whole else "0+"
    fraction = f"(\\.[0-9]{{1,{scale}}}0*)?" if scale else "(\\.0+)?"
    return f"^[+-]?{integer}{fraction}$"


def _decimal_strings(precision: int, scale: int) -> ArrayHandler:
    target = pa.decimal128(precision, scale)
    pattern = _decimal_pattern(precision, scale)

    def convert(strings: pa.Array) -> tuple[pa.Array, list[int]]:
        fitting, other = _matching(strings, pattern)
        # The pattern admits only values that fit; the cast is Arrow's safe one, which
        # refuses any loss of digits or precision, so a value is exact or not written.
        return _cast_or_defer(fitting, target, other)

    return convert


def _decimals(precision: int, scale: int) -> dict[type, FastHandler]:
    from_str = _from_typed(_decimal_strings(precision, scale), pa.string())

    def from_number(values: list[Any]) -> tuple[pa.Array, list[int]]:
        # As the one-value converter: a JSON number's shortest repr, never its binary value.
        return from_str([None if v is None else str(v) for v in values])

    return {str: from_str, int: from_number, float: from_number}


def _epoch_ints(fmt: str, target: pa.DataType) -> ArrayHandler:
    low, high = _EPOCH_BOUNDS[fmt]

    def convert(array: pa.Array) -> tuple[pa.Array, list[int]]:
        array, outside = _bounded(array, low, high)
        micros = pc.multiply(array, _MICROS[fmt])
        return pc.cast(pc.cast(micros, TIMESTAMP), target), outside

    return convert


def _iso_timestamp_strings(strings: pa.Array) -> tuple[pa.Array, list[int]]:
    zoned_mask = pc.match_substring_regex(strings, _ISO_ZONED)
    naive_mask = pc.match_substring_regex(strings, _ISO_NAIVE)
    zoned, deferred_zoned = _cast_or_defer(_nulled(strings, pc.invert(zoned_mask)), TIMESTAMP, [])
    naive, deferred_naive = _cast_or_defer(_nulled(strings, pc.invert(naive_mask)), pa.timestamp("us"), [])
    # No offset means UTC, as the one-value converter reads it.
    naive = pc.cast(naive, TIMESTAMP)
    other = pc.and_(pc.is_valid(strings), pc.invert(pc.or_(zoned_mask, naive_mask).fill_null(False)))
    result = pc.coalesce(zoned, naive)
    # An offset can carry year 1 or 9999 outside what Python's datetime (and so the
    # one-value converter, and every reader of the table) can hold: those go there.
    outside = pc.or_(pc.less(result, _MIN_TIMESTAMP), pc.greater(result, _MAX_TIMESTAMP))
    beyond = _positions(outside)
    if beyond:
        result = _nulled(result, outside)
    deferred = sorted(set(deferred_zoned + deferred_naive + _positions(other) + beyond))
    return result, deferred


def _iso_date_strings(strings: pa.Array) -> tuple[pa.Array, list[int]]:
    fitting, other = _matching(strings, f"^{_ISO_DATE}$")
    return _cast_or_defer(fitting, pa.date32(), other)


def _unchanged(array: pa.Array) -> tuple[pa.Array, list[int]]:
    return array, []


def array_handler(column: Column) -> tuple[pa.DataType, ArrayHandler]:
    """The JSON type a column's values usually come as, as the Arrow type pyarrow.json
    reads them into, and the column's conversion from an array of that type."""
    if column.decimal:
        return pa.string(), _decimal_strings(*column.decimal)
    kind, fmt = column.type, column.format
    if kind in ("int", "long"):
        low, high = INT_RANGE if kind == "int" else LONG_RANGE
        return pa.int64(), _bounded_ints(low, high, ARROW_TYPES[kind])
    if kind == "double":
        return pa.float64(), _finite_doubles
    if kind in ("boolean", "string"):
        return ARROW_TYPES[kind], _unchanged
    if kind == "timestamp" and fmt == "iso":
        return pa.string(), _iso_timestamp_strings
    if kind == "date" and fmt not in ("epoch_ms", "epoch_s"):
        return pa.string(), _iso_date_strings
    if kind in ("timestamp", "date"):
        return pa.int64(), _epoch_ints(fmt or "epoch_ms", ARROW_TYPES[kind])
    raise ValueError(f"no Arrow conversion for column type {kind!r}")  # pragma: no cover


def fast_handlers(column: Column) -> dict[type, FastHandler]:
    """The vectorised conversions of a column, by the Python class of the JSON value."""
    if column.decimal:
        return _decimals(*column.decimal)
    native, handler = array_handler(column)
    kind = column.type
    if kind == "int":
        return _integers(*INT_RANGE, pa.int32())
    if kind == "long":
        return _integers(*LONG_RANGE, pa.int64())
    if kind == "double":
        return _doubles()
    if native == pa.int64():  # epoch timestamps and dates
        return {int: _from_int64(handler)}
    return {str if native == pa.string() else bool: _from_typed(handler, native)}


def _field_chain(path: str) -> list[str] | None:
    """The keys of a path that is nothing but field lookups (``a``, ``venue.code``,
    ``"x-total".n``), read from JMESPath's own parse; None for any other expression."""
    node = compile_path(path).parsed
    nodes = node["children"] if node["type"] == "subexpression" else [node]
    if all(n["type"] == "field" for n in nodes):
        return [n["value"] for n in nodes]
    return None


Getter = Callable[[list[dict[str, Any]]], list[Any]]


def getter(path: str) -> Getter:
    """The values at ``path`` of a list of records (JSON objects), as extract() finds them.

    A chain of field lookups is what JMESPath evaluates as ``.get`` on an object and
    null on anything else; done here as list comprehensions, it costs a few tens of
    nanoseconds a value instead of a few microseconds. Other expressions (indexes,
    projections, functions) go through JMESPath itself.
    """
    chain = _field_chain(path)
    if chain is None:
        expression = compile_path(path)
        return lambda records: [expression.search(r) for r in records]
    first, rest = chain[0], chain[1:]

    def values(records: list[dict[str, Any]]) -> list[Any]:
        found = [r.get(first) for r in records]
        for key in rest:
            found = [v.get(key) if v.__class__ is dict else None for v in found]
        return found

    return values


class ArrowColumn:
    """One declared column: its getter, vectorised handlers and one-value converter."""

    def __init__(self, column: Column) -> None:
        self.column = column
        self.type = arrow_type(column)
        self.get = getter(column.path)
        self.handlers = fast_handlers(column)
        self.convert = converter(column)

    def build(self, values: list[Any]) -> tuple[pa.Array, list[int]]:
        """(the column's array, positions whose value does not fit or is missing though required)."""
        n = len(values)
        kinds = set(map(type, values))
        has_null = _NONE in kinds
        kinds.discard(_NONE)
        fast = [k for k in kinds if k in self.handlers]
        slow = (
            [i for i, v in enumerate(values) if v.__class__ not in self.handlers and v is not None]
            if len(fast) < len(kinds)
            else []
        )
        parts = []
        for kind in fast:
            mine = values if len(kinds) == 1 else [v if v.__class__ is kind else None for v in values]
            try:
                array, deferred = self.handlers[kind](mine)
            except UnicodeEncodeError:
                # A lone surrogate in some string: Arrow cannot hold it; the one-value
                # converter names it (or reads it as the number it cannot be).
                slow += [i for i, v in enumerate(values) if v.__class__ is kind]
                continue
            parts.append(array)
            slow += deferred
        array = pa.nulls(n, self.type) if not parts else parts[0] if len(parts) == 1 else pc.coalesce(*parts)
        bad: list[int] = []
        if slow:
            fitted, fitted_values = [], []
            for i in sorted(slow):
                try:
                    fitted_values.append(self.convert(values[i]))
                    fitted.append(i)
                except ValueMismatch:
                    bad.append(i)
            if fitted:
                mask = np.zeros(n, dtype=bool)
                mask[fitted] = True
                array = pc.replace_with_mask(array, pa.array(mask), pa.array(fitted_values, self.type))
        if self.column.required and has_null:
            bad += [i for i, v in enumerate(values) if v is None]
        return array, bad


@contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing allocates a dict per record and no cycles; the cyclic collector would
    otherwise rescan every live object many times per page (it tripled parse time).

    Pause it over a whole landing, not page by page: re-enabled between pages, each
    page's first allocation ran a collection over the chunk's pending records (up to
    CHUNK_RECORDS dicts), which cost 0.6 s of the 2.7 s typing 1M records. Paused,
    memory still stays bounded: acyclic objects are freed by reference counting."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass
class TypedRecords:
    """Records typed into Arrow: the rows that fit, and one entry per record that did not."""

    table: pa.Table
    quarantined: list[QuarantineEntry] = field(default_factory=list)


class ArrowTyper:
    """Types records of one table into Arrow columns; built once per job."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.schema = arrow_schema(table)
        self.scalar = RecordTyper(table)
        self._columns = [ArrowColumn(c) for c in table.columns]

    def empty(self) -> pa.Table:
        return self.schema.empty_table()

    def type_records(self, records: list[Any], raw_keys: list[tuple[int, str]] | str) -> TypedRecords:
        """Type ``records`` (any JSON values) column-wise. ``raw_keys`` names the page of
        each record for its quarantine entry: one key, or (first record index, key) pairs
        in order, one per page."""
        n = len(records)
        if n == 0:
            return TypedRecords(self.empty())
        if set(map(type, records)) == {dict}:
            objects, bad = records, set()
        else:
            objects = [r if r.__class__ is dict else {} for r in records]
            bad = {i for i, r in enumerate(records) if r.__class__ is not dict}
        arrays = []
        for column in self._columns:
            array, misfits = column.build(column.get(objects))
            arrays.append(array)
            bad.update(misfits)
        typed = pa.Table.from_arrays(arrays, schema=self.schema)
        if not bad:
            return TypedRecords(typed)
        keep = np.ones(n, dtype=bool)
        positions = sorted(bad)
        keep[positions] = False
        return TypedRecords(typed.filter(pa.array(keep)), self._quarantine(records, positions, raw_keys))

    def _quarantine(
        self, records: list[Any], positions: list[int], raw_keys: list[tuple[int, str]] | str
    ) -> list[QuarantineEntry]:
        spans = [(0, raw_keys)] if isinstance(raw_keys, str) else raw_keys
        starts = [start for start, _ in spans]
        entries = []
        for i in positions:
            record = records[i]
            _, reason = self.scalar.type_record(record)
            if reason is None:  # pragma: no cover - the two paths share their converters
                raise AssertionError(f"the Arrow typer refused a record the row typer accepts: {record!r}")
            key = spans[int(np.searchsorted(starts, i, side="right")) - 1][1]
            entries.append(QuarantineEntry(reason=reason, raw_key=key, record=json.dumps(record, sort_keys=True)))
        return entries


class PageBatch:
    """Pages in, one Arrow table (plus quarantine entries) out, typed a chunk at a time
    so that only CHUNK_RECORDS records are ever Python objects at once.

    Rows keep the order of their pages. Quarantine entries come in the order their
    chunks were typed (a page problem is added at once, a misfit record when its chunk
    is typed)."""

    def __init__(self, typer: ArrowTyper, records_path: str, chunk_records: int = CHUNK_RECORDS) -> None:
        self.typer = typer
        self.records_path = records_path
        self.chunk_records = chunk_records
        self.quarantined: list[QuarantineEntry] = []
        self._tables: list[pa.Table] = []
        self._pending: list[Any] = []
        self._spans: list[tuple[int, str]] = []
        # Pages typed elsewhere (add_typed), waiting to be joined into one chunk; at
        # most one of this and _pending holds anything, so rows keep their order.
        self._typed: list[pa.Table] = []
        self._typed_rows = 0

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self._tables) + self._typed_rows

    def add_problem(self, entry: QuarantineEntry) -> None:
        self.quarantined.append(entry)

    def add_page(self, raw_key: str, body: bytes) -> None:
        with gc_paused():
            found = page_records(body, self.records_path, raw_key)
            if isinstance(found, QuarantineEntry):
                self.quarantined.append(found)
                return
            self._join_typed()
            self._spans.append((len(self._pending), raw_key))
            self._pending.extend(found)
            if len(self._pending) >= self.chunk_records:
                self._type_pending()

    def _type_pending(self) -> None:
        if self._pending:
            typed = self.typer.type_records(self._pending, self._spans)
            self._tables.append(typed.table)
            self.quarantined.extend(typed.quarantined)
        self._pending, self._spans = [], []

    def add_typed(self, table: pa.Table) -> None:
        """A page typed already, none of its records quarantined (spark_jobs/arrow_json.py);
        its rows go after those of the pages added before it."""
        with gc_paused():
            self._type_pending()
        self._typed.append(table)
        self._typed_rows += table.num_rows
        if self._typed_rows >= self.chunk_records:
            self._join_typed()

    def _join_typed(self) -> None:
        # One chunk per CHUNK_RECORDS rows, as typed chunks have: a table of a thousand
        # one-page chunks would be a thousand write tasks or row groups downstream.
        if self._typed:
            self._tables.append(pa.concat_tables(self._typed).combine_chunks())
        self._typed, self._typed_rows = [], 0

    def finish(self) -> TypedRecords:
        with gc_paused():
            self._type_pending()
        self._join_typed()
        table = pa.concat_tables(self._tables) if self._tables else self.typer.empty()
        self._tables = []
        return TypedRecords(table, self.quarantined)


def type_pages(
    typer: ArrowTyper, pages: Iterable[tuple[str, bytes]], records_path: str, chunk_records: int = CHUNK_RECORDS
) -> TypedRecords:
    """(raw_key, body) pages -> their typed rows and quarantine entries."""
    batch = PageBatch(typer, records_path, chunk_records)
    with gc_paused():
        for raw_key, body in pages:
            batch.add_page(raw_key, body)
        return batch.finish()


def split_page(typer: ArrowTyper, body: bytes, records_path: str, raw_key: str) -> TypedRecords:
    """One page -> its typed rows and quarantine entries."""
    return type_pages(typer, [(raw_key, body)], records_path)
