"""Columns inferred from sample records: what ``lakehouse preview`` proposes for
``table.columns`` (and, later, ``columns --from-raw`` over every landed record).

Engine-free and pure: records in, a report out. The rules follow what the transform
accepts for each declared type (lakehouse/transform/conversions.py), so a column proposed here
types every record it was inferred from:

- nested objects are walked: each leaf becomes a column whose path is the dotted
  JMESPath (``venue.code`` -> ``venue_code``); the object itself is listed by name;
- lists are listed by name and not declared (a table column holds one scalar);
- per leaf path, each candidate type counts the records whose value fits it, and the
  proposal is the narrowest type every present value fits: boolean, long, timestamp
  (epoch numbers only when the name says "time" too: a 13-digit id is not a time),
  decimal(p,s) for numbers sent as text, double, timestamp or date from ISO text,
  string (every scalar fits a string).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from lakehouse.endpoints.models import NAME_MAX, PARTITION_COLUMNS

TypeName = Literal["boolean", "long", "double", "decimal", "timestamp", "date", "string"]
Format = Literal["epoch_ms", "epoch_s", "iso"]

LONG_RANGE = (-(2**63), 2**63 - 1)
# Epoch numbers between 2000-01-01 and 2100-01-01 in seconds or milliseconds: the two
# ranges do not overlap, so a value says which unit it is in.
_EPOCH_LOW, _EPOCH_HIGH = 946_684_800, 4_102_444_800
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_DECIMAL_TEXT = re.compile(r"^[+-]?(\d+)(?:\.(\d+))?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names that say a number is a point in time (trade.time, created_at, ts, updated_s):
# column names as column_name() makes them, so camelCase reads as snake_case.
_TIME_NAME = re.compile(
    r"time|(^|_)(ts|date|datetime|at|ms|epoch|when|created|updated|modified|deleted|expires?|since|until)(_|$)",
    re.IGNORECASE,
)
# An ISO text must carry a date; fromisoformat alone also takes "12:30" or "2024".
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
# Digits of headroom a proposed decimal gets over the widest value seen in the sample.
DECIMAL_HEADROOM = 4
MAX_PRECISION = 38


def json_path(keys: Sequence[str]) -> str:
    """The JMESPath of nested ``keys``; keys that are no identifier are quoted."""
    return ".".join(
        k if _IDENTIFIER.fullmatch(k) else '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys
    )


def column_name(keys: Sequence[str]) -> str:
    """A column name the config model accepts (lowercase, digits, underscores, starting
    with a letter) from nested ``keys``: ``venue.code`` -> ``venue_code``,
    ``tradeId`` -> ``trade_id``."""
    words = []
    for key in keys:
        snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()
        words.append(re.sub(r"[^a-z0-9]+", "_", snake).strip("_"))
    name = re.sub(r"_+", "_", "_".join(w for w in words if w)) or "value"
    if not name[0].isalpha():
        name = "c_" + name
    return name[:NAME_MAX].rstrip("_")


@dataclass(frozen=True)
class TypeFit:
    """One candidate type and how many records' values fit it."""

    type: str  # as declared: long, decimal(18,8), timestamp, ...
    records: int
    format: Format | None = None


@dataclass(frozen=True)
class InferredColumn:
    name: str
    path: str
    type: str
    format: Format | None
    present: int  # records with a non-null value
    records: int  # records looked at
    fits: tuple[TypeFit, ...]
    evidence: str = ""

    def share(self, fit: TypeFit) -> float:
        return fit.records / self.records if self.records else 0.0

    def as_config(self) -> dict[str, Any]:
        """The ``table.columns`` entry (config model field names)."""
        out: dict[str, Any] = {"name": self.name, "path": self.path, "type": self.type}
        if self.format is not None:
            out["format"] = self.format
        return out


@dataclass(frozen=True)
class NestedPath:
    """A nested object or list in the records, named (objects are also walked into columns)."""

    path: str
    kind: Literal["object", "list"]
    records: int  # records where it appears
    detail: str  # "list of objects (up to 3)", "object with 2 fields"


@dataclass(frozen=True)
class Inference:
    records: int
    columns: tuple[InferredColumn, ...]
    nested: tuple[NestedPath, ...]
    not_objects: int = 0  # records that are no JSON object (no columns from them)


@dataclass
class _Leaf:
    keys: tuple[str, ...]
    values: list[Any] = field(default_factory=list)
    nulls: int = 0


@dataclass
class _Nest:
    kind: Literal["object", "list"]
    records: int = 0
    widths: list[int] = field(default_factory=list)
    item_kinds: set[str] = field(default_factory=set)


def _walk(
    record: dict[str, Any],
    prefix: tuple[str, ...],
    leaves: dict[tuple[str, ...], _Leaf],
    nests: dict[tuple[str, ...], _Nest],
) -> None:
    for key, value in record.items():
        keys = (*prefix, str(key))
        if isinstance(value, dict):
            nest = nests.setdefault(keys, _Nest("object"))
            nest.records += 1
            nest.widths.append(len(value))
            _walk(value, keys, leaves, nests)
        elif isinstance(value, list):
            nest = nests.setdefault(keys, _Nest("list"))
            nest.records += 1
            nest.widths.append(len(value))
            nest.item_kinds.update(_kind(item) for item in value)
        else:
            leaf = leaves.setdefault(keys, _Leaf(keys))
            if value is None:
                leaf.nulls += 1
            else:
                leaf.values.append(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "objects"
    if isinstance(value, list):
        return "lists"
    return "scalars" if value is not None else "nulls"


# -- one value against one type (the transform's rules: lakehouse/transform/conversions.py) ----------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fits_boolean(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and value.strip().lower() in ("true", "false"))


def _as_integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.match(value.strip()):
        return int(value.strip())
    return None


def _fits_long(value: Any) -> bool:
    number = _as_integer(value)
    return number is not None and LONG_RANGE[0] <= number <= LONG_RANGE[1]


def _fits_double(value: Any) -> bool:
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value) if _is_number(value) else None
    except (ValueError, OverflowError):
        return False
    return number is not None and math.isfinite(number)


def _decimal_digits(value: Any) -> tuple[int, int] | None:
    """(integer digits, decimal places) of a number written as text or a float."""
    if isinstance(value, bool) or not (_is_number(value) or isinstance(value, str)):
        return None
    match = _DECIMAL_TEXT.match(str(value).strip())
    if not match:
        return None
    whole = match.group(1).lstrip("0")
    return len(whole), len(match.group(2) or "")


def _epoch_unit(value: Any) -> Format | None:
    number = _as_integer(value)
    if number is None:
        return None
    if _EPOCH_LOW <= number < _EPOCH_HIGH:
        return "epoch_s"
    if _EPOCH_LOW * 1000 <= number < _EPOCH_HIGH * 1000:
        return "epoch_ms"
    return None


def _iso_kind(value: Any) -> Literal["date", "timestamp"] | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _ISO_DATE.fullmatch(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            return None
        return "date"
    if _ISO_TIMESTAMP.match(text):
        try:
            datetime.fromisoformat(text)
        except ValueError:
            return None
        return "timestamp"
    return None


def _epoch_text(value: Any, unit: Format) -> str:
    number = _as_integer(value) or 0
    moment = datetime(1970, 1, 1, tzinfo=UTC) + (
        timedelta(milliseconds=number) if unit == "epoch_ms" else timedelta(seconds=number)
    )
    return f"{value} = {moment:%Y-%m-%dT%H:%M:%SZ}"


def _column(leaf: _Leaf, records: int) -> InferredColumn:
    values = leaf.values
    present = len(values)
    name = column_name(leaf.keys)
    path = json_path(leaf.keys)
    strings = sum(isinstance(v, str) for v in values)
    fits: list[TypeFit] = []

    def count(test: Any) -> int:
        return sum(1 for v in values if test(v))

    booleans = count(_fits_boolean)
    longs = count(_fits_long)
    doubles = count(_fits_double)
    units = [_epoch_unit(v) for v in values]
    epoch_ms, epoch_s = units.count("epoch_ms"), units.count("epoch_s")
    isos = [_iso_kind(v) for v in values]
    iso_timestamps = sum(1 for k in isos if k is not None)  # a date is a timestamp at midnight
    iso_dates = isos.count("date")
    digits = [d for d in (_decimal_digits(v) for v in values) if d is not None]
    scale = max((d[1] for d in digits), default=0)
    whole = max((d[0] for d in digits), default=0)
    precision = min(MAX_PRECISION, max(whole + scale + DECIMAL_HEADROOM, scale + 1))
    scale = min(scale, precision)
    decimal_type = f"decimal({precision},{scale})"
    # A float has no exact decimal to keep: decimals are proposed for numbers sent as text.
    decimals = len(digits) if strings else 0

    for type_name, n, fmt in (
        ("boolean", booleans, None),
        ("long", longs, None),
        ("timestamp", epoch_ms, "epoch_ms"),
        ("timestamp", epoch_s, "epoch_s"),
        (decimal_type, decimals, None),
        ("double", doubles, None),
        ("timestamp", iso_timestamps, "iso"),
        ("date", iso_dates, "iso"),
        ("string", present, None),
    ):
        if n:
            fits.append(TypeFit(type_name, n, fmt))  # type: ignore[arg-type]

    evidence = ""
    chosen: tuple[str, Format | None]
    timey = bool(_TIME_NAME.search(column_name(leaf.keys[-1:])))
    if present == 0:
        chosen, evidence = ("string", None), "always null in the sample: string until a value shows its type"
    elif booleans == present:
        chosen = ("boolean", None)
    elif epoch_ms == present and timey:
        chosen, evidence = (
            ("timestamp", "epoch_ms"),
            f"integers in ms since 1970, e.g. {_epoch_text(values[0], 'epoch_ms')}",
        )
    elif epoch_s == present and timey:
        chosen, evidence = (
            ("timestamp", "epoch_s"),
            f"integers in s since 1970, e.g. {_epoch_text(values[0], 'epoch_s')}",
        )
    elif longs == present:
        chosen = ("long", None)
        for unit, n in (("epoch_ms", epoch_ms), ("epoch_s", epoch_s)):
            if n == present:
                evidence = f"could be {unit} times ({_epoch_text(values[0], unit)}): declare timestamp if so"  # type: ignore[arg-type]
    elif decimals == present:
        chosen = (decimal_type, None)
        evidence = f"numbers as text, up to {whole} digits before and {scale} after the point"
    elif doubles == present and strings == 0:
        chosen = ("double", None)
    elif iso_dates == present:
        chosen, evidence = ("date", "iso"), f"ISO dates, e.g. {values[0]}"
    elif iso_timestamps == present:
        chosen, evidence = ("timestamp", "iso"), f"ISO-8601 text, e.g. {values[0]}"
    else:
        chosen = ("string", None)
        if doubles == present:
            evidence = "numbers, some sent as text: string keeps them as sent"
    return InferredColumn(
        name=name,
        path=path,
        type=chosen[0],
        format=chosen[1],
        present=present,
        records=records,
        fits=tuple(fits),
        evidence=evidence,
    )


def _unique(columns: list[InferredColumn]) -> list[InferredColumn]:
    """Column names the table model accepts: none twice, none a partition column."""
    seen: set[str] = set()
    out = []
    for column in columns:
        name = column.name
        if name in PARTITION_COLUMNS:
            name = f"{name}_value"
        base, n = name, 2
        while name in seen:
            suffix = f"_{n}"
            name = base[: NAME_MAX - len(suffix)] + suffix
            n += 1
        seen.add(name)
        out.append(column if name == column.name else _renamed(column, name))
    return out


def _renamed(column: InferredColumn, name: str) -> InferredColumn:
    return replace(column, name=name)


def infer(records: Sequence[Any]) -> Inference:
    """The columns (in first-seen order) and nested paths of ``records``."""
    leaves: dict[tuple[str, ...], _Leaf] = {}
    nests: dict[tuple[str, ...], _Nest] = {}
    objects = 0
    for record in records:
        if isinstance(record, dict):
            objects += 1
            _walk(record, (), leaves, nests)
    columns = _unique([_column(leaf, objects) for leaf in leaves.values()])
    nested = []
    for keys, nest in nests.items():
        if nest.kind == "object":
            detail = f"object with up to {max(nest.widths, default=0)} fields (walked into columns)"
        else:
            kinds = sorted(nest.item_kinds - {"nulls"}) or ["nothing"]
            detail = f"list of {' and '.join(kinds)} (up to {max(nest.widths, default=0)}), not declared"
        nested.append(NestedPath(json_path(keys), nest.kind, nest.records, detail))
    return Inference(records=objects, columns=tuple(columns), nested=tuple(nested), not_objects=len(records) - objects)


def list_paths(document: Any, limit: int = 20) -> list[tuple[str, int]]:
    """JSON paths in ``document`` that hold lists of objects, with their lengths:
    candidates for ``response_map.records_path``, shallowest first."""
    found: list[tuple[int, str, int]] = []

    def visit(value: Any, keys: tuple[str, ...]) -> None:
        if isinstance(value, list):
            if value and sum(isinstance(v, dict) for v in value) * 2 >= len(value):
                found.append((len(keys), json_path(keys), len(value)))
        elif isinstance(value, dict):
            for key, child in value.items():
                visit(child, (*keys, str(key)))

    visit(document, ())
    found.sort(key=lambda f: (f[0], f[1]))
    return [(path, length) for _, path, length in found[:limit]]
