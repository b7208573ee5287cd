"""The one conversion table of column types: JSON values -> a column's Arrow values.

Every column type of an endpoint's ``table:`` has one entry in :data:`CONVERSIONS`,
and both typing paths read it: the per-record one (``typer.RecordTyper``, which
writes every quarantine reason) uses an entry's one-value converter, the vectorised
ones (``typer.ArrowTyper`` on parsed records, ``arrow_pages.ArrowJsonPages`` on
pages read by pyarrow.json) its Arrow conversions. A vectorised conversion never
refuses a value: it converts the canonical encodings (ints, floats, booleans and
strings as they are; decimal strings by an exact string -> decimal128 cast after a
digit-count check, so no float detour and no silent rounding; epoch numbers by
integer arithmetic; ISO strings by Arrow's ISO-8601 cast) and hands every other value
to the one-value converter, which alone decides what fits. So the reasons have one
author, and the paths agree row for row (tests/unit/lakehouse/transform: one
awkward-value corpus checks it).

Adding a column type: one entry in CONVERSIONS (and the type in the endpoint model).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.endpoints import Column, Table

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
_INT_TEXT = re.compile(r"^[+-]?\d+$")


class ValueMismatch(ValueError):
    """A value does not fit its column; the message becomes part of a quarantine reason."""


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


# --- vectorised (Arrow) -----------------------------------------------------------------

# Spark's TimestampType is an instant; it takes Arrow timestamps with a zone.
TIMESTAMP = pa.timestamp("us", tz="UTC")
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
# bool or string), as pyarrow.json reads them (arrow_pages.py). The list
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


# --- the table ----------------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    """What the typer knows of one column type; built once per column per job."""

    arrow: pa.DataType  # the column's Arrow type in the typed table
    one_value: Callable[[Any], Any]  # one JSON value -> its Python value, or ValueMismatch
    native: pa.DataType  # the JSON type its values usually come as, as pyarrow.json reads it
    array: ArrayHandler  # the vectorised conversion of an array of ``native``
    by_class: dict[type, FastHandler]  # the vectorised conversions by a parsed value's class


def _as_is(target: pa.DataType, python: type, one_value: Callable[[Any], Any]) -> Conversion:
    return Conversion(target, one_value, target, _unchanged, {python: _from_typed(_unchanged, target)})


def _integer(bounds: tuple[int, int], target: pa.DataType) -> Conversion:
    return Conversion(
        target,
        lambda v: _to_integer(v, bounds),
        pa.int64(),
        _bounded_ints(*bounds, target),
        _integers(*bounds, target),
    )


def _double(fmt: str | None) -> Conversion:
    return Conversion(pa.float64(), _to_double, pa.float64(), _finite_doubles, _doubles())


def _epoch_conversion(fmt: str, target: pa.DataType, one_value: Callable[[Any], Any]) -> Conversion:
    handler = _epoch_ints(fmt, target)
    return Conversion(target, one_value, pa.int64(), handler, {int: _from_int64(handler)})


def _iso_conversion(target: pa.DataType, handler: ArrayHandler, one_value: Callable[[Any], Any]) -> Conversion:
    return Conversion(target, one_value, pa.string(), handler, {str: _from_typed(handler, pa.string())})


def _timestamp(fmt: str | None) -> Conversion:
    one_value: Callable[[Any], Any] = lambda v: _to_timestamp(v, fmt)  # noqa: E731
    if fmt == "iso":
        return _iso_conversion(TIMESTAMP, _iso_timestamp_strings, one_value)
    return _epoch_conversion(fmt or "epoch_ms", TIMESTAMP, one_value)


def _date(fmt: str | None) -> Conversion:
    one_value: Callable[[Any], Any] = lambda v: _to_date(v, fmt)  # noqa: E731
    if fmt in ("epoch_ms", "epoch_s"):
        return _epoch_conversion(fmt, pa.date32(), one_value)
    return _iso_conversion(pa.date32(), _iso_date_strings, one_value)


def _decimal(precision: int, scale: int) -> Conversion:
    return Conversion(
        pa.decimal128(precision, scale),
        lambda v: _to_decimal(v, precision, scale),
        pa.string(),
        _decimal_strings(precision, scale),
        _decimals(precision, scale),
    )


# Column type -> its conversion, given the column's ``format``; ``decimal(p,s)`` types
# are the one family keyed by their parameters (:func:`conversion`).
CONVERSIONS: dict[str, Callable[[str | None], Conversion]] = {
    "string": lambda fmt: _as_is(pa.string(), str, _to_string),
    "int": lambda fmt: _integer(INT_RANGE, pa.int32()),
    "long": lambda fmt: _integer(LONG_RANGE, pa.int64()),
    "double": _double,
    "boolean": lambda fmt: _as_is(pa.bool_(), bool, _to_bool),
    "timestamp": _timestamp,
    "date": _date,
}


def conversion(column: Column) -> Conversion:
    if column.decimal:
        return _decimal(*column.decimal)
    return CONVERSIONS[column.type](column.format)


def arrow_type(column: Column) -> pa.DataType:
    return conversion(column).arrow


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c)) for c in table.columns])
