"""The awkward-value corpus: per column type, JSON values at and beyond every edge.

One corpus drives both agreement tests: the vectorised typer against the per-record
one (test_typer.py), and pages read by pyarrow.json against the orjson path
(test_arrow_pages.py). A new column type gets its values here.
"""

from __future__ import annotations

from typing import Any

from lakehouse.endpoints import Table
from lakehouse.transform.batches import type_pages
from lakehouse.transform.typer import ArrowTyper, TypedRecords

AWKWARD: dict[str, list[Any]] = {
    "long": [
        0,
        -1,
        2**63 - 1,
        -(2**63),
        2**63,
        -(2**63) - 1,
        2**70,
        "42",
        "-7",
        " 8 ",
        "+9",
        "007",
        "1.0",
        "x",
        "123456789012345678901",
        1.0,
        1.5,
        True,
        False,
        None,
        {},
        [],
        "",
    ],
    "int": [2**31 - 1, -(2**31), 2**31, -(2**31) - 1, "2147483648", "12", 3.0, True, None],
    "double": [
        0.5,
        -1e308,
        1e308,
        1,
        2**53 + 1,
        2**64,
        2**80,
        "1.5",
        "1e5",
        "-0.25e-3",
        " 2 ",
        "inf",
        "nan",
        "1e400",
        "x",
        True,
        None,
        [],
        "1.",
        ".5",
        "+3",
        10**400,  # beyond any double: quarantined, not an OverflowError
        -(10**400),
    ],
    "boolean": [True, False, "true", "FALSE", " True ", "yes", 1, 0, None, "t"],
    # "\ud800": a lone surrogate escape, valid JSON that no UTF-8 string can hold.
    "string": ["a", "", " padded ", "ünïcödé", 1, 1.5, True, None, {"a": 1}, [1], "\ud800", "a\udfffb"],
    "decimal(10,2)": [
        "1.00",
        "1.5",
        "1.500",
        "1.505",
        "12345678.99",
        "123456789.00",
        "00012345678.10",
        "-0.01",
        "+5",
        "5.",
        ".5",
        "1e3",
        "1E-2",
        " 1.25 ",
        "1_000",
        "NaN",
        "Infinity",
        "abc",
        "",
        "-",
        "0",
        1,
        1.25,
        0.1,
        1e-7,
        1e20,
        12345678901,
        1.005,
        True,
        None,
        {},
        "0.10000000000",
    ],
    "decimal(2,2)": ["0.12", "0.123", "1.00", "00.10", ".99", "-0.5", 0.5, 1],
    "decimal(38,0)": [
        "12345678901234567890123456789012345678",
        "123456789012345678901234567890123456789",
        "1.0",
        "1.5",
        2**100,
        10**37,
    ],
    "timestamp/epoch_ms": [
        0,
        -1,
        1740830400123,
        253402300799999,
        253402300800000,
        -62135596800000,
        -62135596800001,
        2**63,
        1.5,
        1740830400123.0,
        "1740830400123",
        "1.5e3",
        "soon",
        True,
        None,
    ],
    "timestamp/epoch_s": [0, 1740830400, 253402300799, 253402300800, -62135596800, 1740830400.5, "1740830400", None],
    "timestamp/iso": [
        "2025-03-01T12:00:00Z",
        "2025-03-01T12:00:00+01:00",
        "2025-03-01T12:00:00-05:30",
        "2025-03-01 12:00:00.5Z",
        "2025-03-01T12:00:00.123456+00:00",
        "2025-03-01T12:00:00",
        "2025-03-01T12:00:00.1234567Z",
        "2025-03-01T12:00Z",
        "2025-03-01",
        "2025-02-30T00:00:00Z",
        "2025-03-01T24:00:00Z",
        "2025-03-01T23:59:60Z",
        " 2025-03-01T12:00:00Z ",
        "2025-03-01T12:00:00z",
        "2025-03-01T12:00:00+0100",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59-01:00",  # after 9999 in UTC
        "yesterday",
        "",
        1740830400,
        None,
        ["2025-03-01T12:00:00Z"],
    ],
    "date": [
        "2025-03-01",
        "2024-02-29",
        "2025-02-29",
        "2025-13-01",
        "2025-03-01T23:30:00-02:00",
        "0001-01-01T00:30:00+01:00",
        " 2025-03-01",
        "20250301",
        "yesterday",
        20250301,
        None,
    ],
    "date/epoch_ms": [0, -1, 86_399_999, 86_400_000, -86_400_001, 1740830400123, "0", 1.5, None],
}


def corpus_table(kind: str) -> Table:
    """A one-column table ``v`` of ``kind`` ("long", "timestamp/epoch_ms", "decimal(10,2)")."""
    kind_type, _, fmt = kind.partition("/")
    column: dict[str, Any] = {"name": "v", "path": "v", "type": kind_type}
    if fmt:
        column["format"] = fmt
    return Table.model_validate({"namespace": "n", "name": "t", "columns": [column]})


def split_page(typer: ArrowTyper, body: bytes, records_path: str, raw_key: str) -> TypedRecords:
    """One page -> its typed rows and quarantine entries (the orjson path)."""
    return type_pages(typer, [(raw_key, body)], records_path)
