"""Typing whole pages with pyarrow's JSON reader: no Python object per value, GIL released.

The orjson path (``typer.ArrowTyper`` on parsed pages) builds about ten Python objects per record,
and that, not the JSON, is most of its cost; all of it holds the GIL. Here a page is
read by ``pyarrow.json.read_json`` (C++, the GIL released, so it runs in the page
fetching threads) against an explicit schema: the keys of ``records_path`` down to
the list of records, and each column's path down to its value, read as the JSON type
the column's vectorised conversion takes (the ``native`` type of its entry in conversions.py: strings for
decimals and ISO times, int64 for integers and epochs, ...). The columns are then
converted by the very functions the orjson path uses.

A page is taken only when the result is certain to be the orjson path's, row for
row; on any doubt the page is declined and the orjson path types it (it writes the
quarantine reasons, so any page with a misfit record is declined). Declined:

- always, for an endpoint whose records_path or column paths are not plain chains of
  keys (``a.b``, ``"x-y".z``; no index, projection or function), or where one path is
  both a value and an object (``venue`` and ``venue.code``), or two columns read one
  value as different JSON types;
- a body that is not strict UTF-8, starts with a BOM, holds a NUL byte, or contains
  ``NaN`` or ``Inf`` anywhere: Arrow's parser (rapidjson) does not check the UTF-8 of
  the fields it skips, and it accepts ``Inf``, ``-Inf`` and ``-NaN``, which Python's
  json refuses (a page the orjson path calls "not valid JSON");
- a page Arrow refuses: malformed JSON, a value of another JSON type than the column
  reads (a number in a string column, ``"5"`` or ``1.0`` in an integer column), an
  integer beyond int64, a key given twice in one object, a record that is not an object;
- a body that is not exactly one JSON document, or whose records_path is null or
  missing, or holds a null record; a parse Arrow's full validation refuses;
- a value the conversion would hand to the one-value converter (out of range, too
  many digits or decimals, not ISO, not finite...), a null in a required column, and
  a negative zero in a double column (JSON ``-0`` is the integer 0 to Python).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from lakehouse.endpoints import Table
from lakehouse.transform.conversions import ArrayHandler, arrow_schema, conversion
from lakehouse.transform.typer import field_chain

# A top-level list (records_path "") is read as the value of this key: pyarrow.json
# reads objects only.
_WRAPPER = "records"
_BOM = b"\xef\xbb\xbf"
# The page is read as one block, and a block's size is an int32 (with room for the wrapper).
_MAX_BLOCK = 2**31 - 64
# Leaves of the schema tree: the JSON type read; branches: the keys below.
_Tree = dict[str, "pa.DataType | _Tree"]


@dataclass(frozen=True)
class _Leaf:
    name: str  # the table column
    keys: tuple[str, ...]  # its path within a record
    handler: ArrayHandler
    required: bool
    double: bool


def _insert(tree: _Tree, keys: list[str], native: pa.DataType) -> bool:
    """Add a path to the tree; False when it conflicts with one already there."""
    *parents, last = keys
    for key in parents:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            return False
        tree = node
    existing = tree.setdefault(last, native)
    return not isinstance(existing, dict) and existing == native


def _arrow_type(tree: _Tree) -> pa.DataType:
    return pa.struct([pa.field(k, v if isinstance(v, pa.DataType) else _arrow_type(v)) for k, v in tree.items()])


def _plain_text(body: bytes) -> bool:
    """Text on which Arrow's parser and Python's json agree on what is JSON."""
    if not body.isascii():
        if body.startswith(_BOM):
            return False
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return b"\x00" not in body and not _lenient_tokens(body)


# Bytes before a JSON value outside a string (after an optional minus sign).
_BEFORE_VALUE = frozenset(b":[, \t\n\r")
# More candidates than this (text full of "Inf..."): decline rather than look at each.
_MAX_CANDIDATES = 1000


def _lenient_tokens(body: bytes) -> bool:
    """Whether the body may hold ``Inf``, ``-Inf`` or ``-NaN`` as a value: rapidjson's
    kParseNanAndInfFlag takes them, Python's json only ``NaN``, ``Infinity`` and
    ``-Infinity``. A candidate inside a string that looks like a value start
    (``": Inf..."``) declines too; that is only a slower page.

    numpy rather than ``in``: three vectorised compares find both three-byte words
    faster than one ``bytes`` search for each."""
    a = np.frombuffer(body, np.uint8)
    head, middle, tail = a[:-2], a[1:-1], a[2:]
    inf = np.flatnonzero((head == ord("I")) & (middle == ord("n")) & (tail == ord("f")))
    nan = np.flatnonzero((head == ord("N")) & (middle == ord("a")) & (tail == ord("N")))
    if len(inf) + len(nan) > _MAX_CANDIDATES:
        return True
    for i in inf.tolist():
        start = i - 1 if i and body[i - 1] == ord("-") else i
        if body[i : i + 8] != b"Infinity" and (start == 0 or body[start - 1] in _BEFORE_VALUE):
            return True
    for i in nan.tolist():
        if i and body[i - 1] == ord("-") and (i == 1 or body[i - 2] in _BEFORE_VALUE):
            return True
    return False


def _has_negative_zero(array: pa.Array) -> bool:
    values = array.to_numpy(zero_copy_only=False)
    return bool(np.any((values == 0) & np.signbit(values)))


class ArrowJsonPages:
    """Pages of one endpoint -> typed tables, or None for a page left to the orjson path.

    Thread-safe: it holds no state beyond its schema, so the fetching threads share one."""

    def __init__(self, table: Table, records_keys: list[str], leaves: list[_Leaf], record_tree: _Tree) -> None:
        self.schema = arrow_schema(table)
        self._records_keys = records_keys
        self._wrapped = not records_keys
        self._leaves = leaves
        outer: pa.DataType = pa.list_(_arrow_type(record_tree))
        for key in reversed(records_keys[1:]):
            outer = pa.struct([pa.field(key, outer)])
        top = records_keys[0] if records_keys else _WRAPPER
        self._parse = pj.ParseOptions(
            explicit_schema=pa.schema([pa.field(top, outer)]),
            # Wrapped, an extra top-level key can only come from text after the list
            # (``[...], "k": 1``, not JSON): inferred, it shows as a second column.
            unexpected_field_behavior="infer" if self._wrapped else "ignore",
            # The page is read as one block (block_size below), so a newline inside a
            # value cannot split it; a split document would fail to parse, not misread.
            newlines_in_values=False,
        )

    @classmethod
    def for_table(cls, table: Table, records_path: str) -> ArrowJsonPages | None:
        """The reader of an endpoint's pages; None when its paths are beyond it."""
        records_keys = field_chain(records_path) if records_path else []
        if records_keys is None:
            return None
        tree: _Tree = {}
        leaves = []
        for column in table.columns:
            keys = field_chain(column.path)
            converts = conversion(column)
            native, handler = converts.native, converts.array
            if keys is None or not _insert(tree, keys, native):
                return None
            leaves.append(_Leaf(column.name, tuple(keys), handler, column.required, native == pa.float64()))
        return cls(table, records_keys, leaves, tree)

    def type_page(self, body: bytes) -> pa.Table | None:
        """The page's typed rows, exactly as the orjson path would give them; None when
        that is not certain (the page then goes through the orjson path)."""
        if len(body) >= _MAX_BLOCK or not _plain_text(body):
            return None
        text = b'{"%s":%s}' % (_WRAPPER.encode(), body) if self._wrapped else body
        try:
            parsed = pj.read_json(
                pa.BufferReader(text),
                read_options=pj.ReadOptions(use_threads=False, block_size=len(text) + 1),
                parse_options=self._parse,
            )
            # pyarrow.json can build an invalid list array, its leading nulls dropped,
            # when it infers a list's type (apache/arrow#51305; the wrapped read
            # infers the fields it does not read): checked before any of it is used.
            parsed.validate(full=True)
            return self._typed(parsed)
        except pa.ArrowException:
            return None

    def _typed(self, parsed: pa.Table) -> pa.Table | None:
        if parsed.num_rows != 1 or parsed.num_columns != 1:
            return None
        found: pa.Array = parsed.column(0).combine_chunks()
        for key in self._records_keys[1:]:
            if found.null_count:
                return None
            found = found.field(key)
        if found.null_count:  # records_path missing or null
            return None
        records = found.flatten()
        if records.null_count:  # a null record
            return None
        arrays = []
        for leaf in self._leaves:
            value = pc.struct_field(records, list(leaf.keys)) if len(leaf.keys) > 1 else records.field(leaf.keys[0])
            if leaf.required and value.null_count:
                return None
            if leaf.double and _has_negative_zero(value):
                return None
            array, deferred = leaf.handler(value)
            if deferred:
                return None
            arrays.append(array)
        return pa.Table.from_arrays(arrays, schema=self.schema)
