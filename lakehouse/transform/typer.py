"""Typing records against an endpoint's declared table, into Arrow columns.

Each record either becomes one row of an Arrow table of the declared column types or
one quarantine entry whose reason names every column that did not fit. Nothing is
dropped without a row that says why.

``ArrowTyper`` builds each column for a chunk of records at once: the column's values
are gathered into a list (dotted paths by plain dict lookups, which is what JMESPath
does for them; any other path through JMESPath itself) and converted by the column's
vectorised conversions (conversions.py); the values those leave over go through the
one-value converter. A record with any misfit is quarantined with the reason
``RecordTyper`` (the per-record path) gives for it, so both read the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.endpoints import Column, Table, extract
from lakehouse.endpoints.jsonpath import compile_path
from lakehouse.transform.conversions import ValueMismatch, arrow_schema, conversion

_NONE = type(None)


@dataclass(frozen=True)
class QuarantineEntry:
    reason: str
    raw_key: str
    record: str  # the record (or page text) as JSON, so it can be replayed


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class RecordTyper:
    """Types records of one table; converters are built once per job, not per record."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._columns = [(c, conversion(c).one_value) for c in table.columns]

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


def field_chain(path: str) -> list[str] | None:
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
    chain = field_chain(path)
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
        converts = conversion(column)
        self.type = converts.arrow
        self.get = getter(column.path)
        self.handlers = converts.by_class
        self.convert = converts.one_value

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
