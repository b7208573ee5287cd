"""Pages typed by pyarrow.json against the orjson path: the same rows, or no answer.

Every page the fast path takes must give exactly the table the orjson path gives it
(and the orjson path must quarantine nothing of it); every other page is declined.
Checked on the row typer's awkward values, a generated corpus of clean and dirty
pages, and the cases the fast path must decline; the expected acceptances are
listed, so a fast path that declined everything would fail.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakehouse.endpoints import Table, load_endpoint
from lakehouse.transform.arrow_pages import ArrowJsonPages
from lakehouse.transform.batches import GIVE_UP_AFTER, FastPageBatch, type_pages
from lakehouse.transform.typer import ArrowTyper
from sandbox.market import MarketConfig, trade
from tests.unit.lakehouse.transform.awkward_values import AWKWARD, corpus_table, split_page

COLUMNS: list[dict[str, Any]] = [
    {"name": "trade_id", "path": "id", "type": "long", "required": True},
    {"name": "n", "path": "n", "type": "int"},
    {"name": "price", "path": "price", "type": "decimal(10,2)"},
    {"name": "big", "path": "big", "type": "decimal(38,18)"},
    {"name": "qty", "path": "qty", "type": "double"},
    {"name": "traded_at", "path": "time", "type": "timestamp", "format": "epoch_ms", "required": True},
    {"name": "settled_at", "path": "t.s", "type": "timestamp", "format": "epoch_s"},
    {"name": "seen_at", "path": "seen", "type": "timestamp", "format": "iso"},
    {"name": "day", "path": "day", "type": "date"},
    {"name": "day_ms", "path": "t.dms", "type": "date", "format": "epoch_ms"},
    {"name": "maker", "path": "maker", "type": "boolean"},
    {"name": "venue", "path": "venue.code", "type": "string"},
    {"name": "region", "path": "venue.region", "type": "string"},
    {"name": "total", "path": '"x-total".n', "type": "long"},
]
TABLE = Table.model_validate({"namespace": "n", "name": "t", "columns": COLUMNS})


def typed_both(table: Table, body: bytes, records_path: str = "data.items") -> tuple[pa.Table | None, Any]:
    """(the fast path's table or None, the orjson path's TypedRecords) of one page;
    asserts they agree whenever the fast path answers."""
    pages = ArrowJsonPages.for_table(table, records_path)
    assert pages is not None
    fast = pages.type_page(body)
    slow = split_page(ArrowTyper(table), body, records_path, "k")
    if fast is not None:
        assert slow.quarantined == [], body
        assert fast.schema == slow.table.schema
        assert fast.equals(slow.table), body
    return fast, slow


def page(records: Any, **extra: Any) -> bytes:
    return json.dumps({"data": {"items": records}, **extra}).encode()


# --- the row typer's awkward values ---------------------------------------------------

# What the fast path takes of them: values of the JSON type each column reads, that
# its vectorised conversion takes as they are (anything else is the orjson path's).
ACCEPTED: dict[str, list[Any]] = {
    "boolean": [True, False, None],
    "date": ["2025-03-01", "2024-02-29", None],
    "date/epoch_ms": [0, -1, 86_399_999, 86_400_000, -86_400_001, 1740830400123, None],
    "decimal(10,2)": [
        "1.00",
        "1.5",
        "1.500",
        "12345678.99",
        "00012345678.10",
        "-0.01",
        "+5",
        "0",
        None,
        "0.10000000000",
    ],
    "decimal(2,2)": ["0.12", "00.10", "-0.5"],
    "decimal(38,0)": ["12345678901234567890123456789012345678", "1.0"],
    "double": [0.5, -1e308, 1e308, 1, 2**53 + 1, 2**64, 2**80, None],
    "int": [2**31 - 1, -(2**31), None],
    "long": [0, -1, 2**63 - 1, -(2**63), None],
    "string": ["a", "", " padded ", "ünïcödé", None],
    "timestamp/epoch_ms": [0, -1, 1740830400123, 253402300799999, -62135596800000, None],
    "timestamp/epoch_s": [0, 1740830400, 253402300799, -62135596800, None],
    "timestamp/iso": [
        "2025-03-01T12:00:00Z",
        "2025-03-01T12:00:00+01:00",
        "2025-03-01T12:00:00-05:30",
        "2025-03-01 12:00:00.5Z",
        "2025-03-01T12:00:00.123456+00:00",
        "2025-03-01T12:00:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        None,
    ],
}


@pytest.mark.parametrize("kind", sorted(AWKWARD))
def test_awkward_values_are_typed_as_the_orjson_path_types_them_or_declined(kind):
    table = corpus_table(kind)
    accepted = []
    for value in AWKWARD[kind]:
        fast, _ = typed_both(table, page([{"v": value}]))
        if fast is not None:
            accepted.append(value)
        # Among clean neighbours, and spread over a page with every other value.
        typed_both(table, page([{"v": ACCEPTED[kind][0]}, {"v": value}, {}]))
    assert accepted == ACCEPTED[kind]
    fast, slow = typed_both(table, page([{"v": v} for v in ACCEPTED[kind]]))
    assert fast is not None and fast.num_rows == len(ACCEPTED[kind])
    typed_both(table, page([{"v": v} for v in AWKWARD[kind]]))


# --- a generated corpus ---------------------------------------------------------------

# No "I" or "N": "Inf" or "NaN" after a space would (rightly) decline a clean page.
_PIECES = [
    *string.ascii_lowercase,
    *"ABCXYZ",
    *string.digits,
    " ",
    '"',
    "\\",
    "/",
    "\n",
    "\t",
    "\x01",
    "é",
    "中",
    "😀",
    "\u2028",
]


def _text(rng: random.Random) -> str:
    # "Info"/"NaNa" only right after the opening quote: there they cannot be a value.
    head = rng.choice(["", "", "Info", "NaNa", "Infinity"])
    return head + "".join(rng.choice(_PIECES) for _ in range(rng.randrange(12)))


def _iso(rng: random.Random) -> str:
    text = (
        # Years 1 and 9999 with an offset overflow Python's datetime (the row typer
        # raises OverflowError: not a case either path can type).
        f"{rng.randrange(2, 9999):04d}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        f"{rng.choice('T ')}{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    )
    if rng.random() < 0.5:
        text += "." + "".join(rng.choice(string.digits) for _ in range(rng.randrange(1, 7)))
    return text + rng.choice(["", "Z", "+00:00", f"-{rng.randrange(24):02d}:{rng.randrange(60):02d}", "+05:30"])


def _decimal(rng: random.Random, whole: int, scale: int) -> str:
    digits = "".join(rng.choice(string.digits) for _ in range(rng.randrange(1, whole + 1)))
    text = rng.choice(["", "-", "+"]) + rng.choice(["", "0", "000"]) + digits
    if rng.random() < 0.7:
        text += "." + "".join(rng.choice(string.digits) for _ in range(rng.randrange(1, scale + 1)))
        text += rng.choice(["", "0", "00"])
    # Arrow's string -> decimal cast refuses a text of more than 38 digits, zeros
    # included: the orjson path then defers the whole chunk to the one-value converter.
    return text if sum(c.isdigit() for c in text) <= 38 else _decimal(rng, whole, scale)


def _double(rng: random.Random) -> Any:
    choice = rng.randrange(4)
    if choice == 0:
        return rng.randrange(-(2**70), 2**70)  # a JSON integer, within int64 or not
    if choice == 1:
        return rng.uniform(-1, 1) * 10 ** rng.randrange(-300, 300)
    return rng.choice([0.1, 1.5, 1e-7, 123456.789, 5e-324, 2.5, 3])


def _extra(rng: random.Random, depth: int = 0) -> Any:
    """A field the table does not read: any JSON Python's json writes and reads."""
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return rng.choice([float("nan"), float("inf"), float("-inf")])  # NaN, Infinity, -Infinity
    if choice == 1:
        return rng.randrange(-(2**100), 2**100)
    if choice == 2:
        return _text(rng)
    if choice == 3:
        return rng.choice([None, True, False, -0.0, 1e308])
    if choice in (4, 5):
        return rng.random()
    if choice in (6, 7):
        return {_text(rng) or "k": _extra(rng, depth + 1) for _ in range(rng.randrange(3))}
    return [_extra(rng, depth + 1) for _ in range(rng.randrange(3))]


def _clean_record(rng: random.Random, extras: bool = True) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": rng.choice([rng.randrange(-(2**63), 2**63), rng.randrange(1000)]),
        "n": rng.randrange(-(2**31), 2**31),
        "price": _decimal(rng, 8, 2),
        "big": _decimal(rng, 20, 18),
        "qty": _double(rng),
        "time": rng.randrange(-62135596800000, 253402300800000),
        "t": {"s": rng.randrange(-62135596800, 253402300800), "dms": rng.randrange(-62135596800000, 253402300800000)},
        "seen": _iso(rng),
        "day": f"{rng.randrange(1, 10000):04d}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "maker": rng.random() < 0.5,
        "venue": {"code": _text(rng), "region": _text(rng)},
        "x-total": {"n": rng.randrange(-5, 5)},
    }
    for key in list(values):
        roll = rng.random()
        if key not in ("id", "time") and roll < 0.1:
            del values[key]  # missing
        elif key not in ("id", "time") and roll < 0.2:
            values[key] = None  # null: the same to both paths
    if rng.random() < 0.3 and isinstance(values.get("venue"), dict):
        del values["venue"][rng.choice(["code", "region"])]
    for _ in range(rng.randrange(3) if extras else 0):
        values[_text(rng) + "_extra"] = _extra(rng)
    keys = list(values)
    rng.shuffle(keys)
    return {k: values[k] for k in keys}


def _dirty_record(rng: random.Random) -> Any:
    record = _clean_record(rng)
    choice = rng.randrange(5)
    if choice == 0:
        return rng.choice([5, "text", [1], None, True])  # not an object
    if choice == 1:
        record[rng.choice(["id", "time"])] = None  # a required column null
        return record
    if choice == 2:
        record["venue"] = rng.choice(["XNAS", 5, [1]])  # not an object where one is read
        return record
    # A value from the row typer's awkward values (some fit, most do not), in one of
    # the columns id .. maker.
    column = rng.choice(COLUMNS[:11])
    kind = column["type"] + ("/" + column["format"] if "format" in column else "")
    value = rng.choice(AWKWARD[{"decimal(38,18)": "decimal(38,0)"}.get(kind, kind)])
    first, *rest = column["path"].split(".")
    record[first] = {rest[0]: value} if rest else value
    return record


def _serialise(rng: random.Random, document: Any) -> bytes:
    indent = rng.choice([None, None, 2])
    separators = rng.choice([None, (",", ":")]) if indent is None else None
    return json.dumps(document, indent=indent, separators=separators, ensure_ascii=rng.random() < 0.5).encode()


def _corpus(seed: int, pages: int) -> list[tuple[str, bytes, bool]]:
    """(records_path, body, clean) pages: clean ones have only records of native JSON types."""
    rng = random.Random(seed)
    corpus = []
    for _ in range(pages):
        clean = rng.random() < 0.5
        path = rng.choice(["data.items", "data", ""])
        # A top-level list's records are read with the fields the table does not read
        # inferred (lakehouse/transform/arrow_pages.py): one such field of two JSON types, or an
        # integer beyond int64, declines the page, so clean ones have none.
        extras = path != "" or not clean
        records = [
            _clean_record(rng, extras) if clean or rng.random() < 0.7 else _dirty_record(rng)
            for _ in range(rng.randrange(25))
        ]
        document: Any = {"data": {"items": records}} if path == "data.items" else records
        if path == "data":
            document = {"data": records, "next": _extra(rng)}
        corpus.append((path, _serialise(rng, document), clean))
    return corpus


def test_generated_pages_are_typed_as_the_orjson_path_types_them_or_declined():
    taken = declined_dirty = 0
    for path, body, clean in _corpus(seed=9, pages=300):
        fast, slow = typed_both(TABLE, body, path)
        if clean:
            # A clean page holds nothing the fast path may decline: it must take it.
            assert fast is not None, body
            taken += 1
        elif slow.quarantined:
            assert fast is None
            declined_dirty += 1
    assert taken > 100 and declined_dirty > 50


def test_a_landing_through_the_fast_batch_is_the_orjson_batch():
    corpus = [
        (f"raw/p{i}.json", body) for i, (path, body, _) in enumerate(_corpus(seed=3, pages=200)) if path == "data"
    ]
    corpus.insert(5, ("raw/broken.json", b"{"))
    typer = ArrowTyper(TABLE)
    for chunk in (7, 1000):
        slow = type_pages(typer, corpus, "data", chunk_records=chunk)
        batch = FastPageBatch(typer, "data", chunk_records=chunk)
        for key, body in corpus:
            batch.add_page(key, body)
        fast = batch.finish()
        assert batch.taken > 20 and batch.declined > 20
        assert fast.table.equals(slow.table) and fast.table.schema == slow.table.schema
        assert sorted(fast.quarantined, key=repr) == sorted(slow.quarantined, key=repr)
        if chunk == 1000:
            # Fast pages are joined into chunks, not left one chunk a page.
            assert fast.table.column(0).num_chunks < batch.taken


def test_a_page_prepared_in_a_fetching_thread_is_taken_as_prepared():
    typer = ArrowTyper(TABLE)
    body = page([{"id": 1, "time": 0}])
    batch = FastPageBatch(typer, "data.items")
    assert batch.prepare is not None
    batch.add_page("k", body, batch.prepare(body))
    batch.add_page("k2", body, None)  # declined by the fetching thread: the orjson path types it
    assert batch.finish().table.column("trade_id").to_pylist() == [1, 1]
    assert (batch.taken, batch.declined) == (1, 1)


@pytest.mark.parametrize("threaded", [False, True])
def test_a_landing_the_fast_path_mostly_declines_stops_being_tried(threaded):
    typer = ArrowTyper(TABLE)
    dirty = page([{"id": "bad", "time": 0}, {"id": 1, "time": 0}])
    batch = FastPageBatch(typer, "data.items")
    assert batch.pages is not None
    tries = []
    real = batch.pages.type_page
    batch.pages.type_page = lambda body: tries.append(1) or real(body)  # type: ignore[method-assign]
    for i in range(3 * GIVE_UP_AFTER):
        if threaded:
            assert batch.prepare is not None
            batch.add_page(f"k{i}", dirty, batch.prepare(dirty))
        else:
            batch.add_page(f"k{i}", dirty)
    typed = batch.finish()
    assert len(tries) == GIVE_UP_AFTER and batch.declined == 3 * GIVE_UP_AFTER
    assert typed.table.num_rows == len(typed.quarantined) == 3 * GIVE_UP_AFTER


def test_the_fast_path_can_be_switched_off():
    batch = FastPageBatch(ArrowTyper(TABLE), "data.items", fast=False)
    assert batch.prepare is None
    batch.add_page("k", page([{"id": 1, "time": 0}]))
    assert batch.finish().table.num_rows == 1 and batch.taken == 0


# --- what it declines -----------------------------------------------------------------


def _table(*columns: dict[str, Any]) -> Table:
    return Table.model_validate({"namespace": "n", "name": "t", "columns": list(columns)})


@pytest.mark.parametrize(
    ("records_path", "columns"),
    [
        ("data[0].items", [{"name": "a", "path": "a", "type": "long"}]),
        ("data.items", [{"name": "a", "path": "tags[0]", "type": "string"}]),
        ("data.items", [{"name": "a", "path": "a[*].b", "type": "string"}]),
        ("length(data)", [{"name": "a", "path": "a", "type": "long"}]),
        # One key both a value and an object, or one value read as two JSON types.
        ("data.items", [{"name": "a", "path": "v", "type": "string"}, {"name": "b", "path": "v.c", "type": "long"}]),
        ("data.items", [{"name": "a", "path": "v.c", "type": "long"}, {"name": "b", "path": "v", "type": "string"}]),
        ("data.items", [{"name": "a", "path": "v", "type": "string"}, {"name": "b", "path": "v", "type": "long"}]),
    ],
)
def test_endpoints_with_paths_beyond_field_chains_never_take_the_fast_path(records_path, columns):
    assert ArrowJsonPages.for_table(_table(*columns), records_path) is None


def test_two_columns_of_one_value_and_type_share_it():
    table = _table(
        {"name": "a", "path": "v", "type": "long"},
        {"name": "b", "path": "v", "type": "timestamp", "format": "epoch_ms"},
    )
    fast, _ = typed_both(table, page([{"v": 1000}]))
    assert fast is not None and fast.to_pylist()[0]["a"] == 1000


GOOD = {"id": 1, "time": 1740830400123}
DECLINED: dict[str, tuple[bytes, str]] = {
    # A value the orjson path quarantines, or takes only through a one-value conversion.
    "not an integer": (page([GOOD, {"id": "bad", "time": 0}]), "quarantined"),
    "an integer as text": (page([{"id": "5", "time": 0}]), "typed"),
    "a float in an integer column": (page([{"id": 1.0, "time": 0}]), "typed"),
    "beyond int64": (b'{"data": {"items": [{"id": 9223372036854775808, "time": 0}]}}', "quarantined"),
    "int out of range": (page([{"id": 1, "time": 0, "n": 2**31}]), "quarantined"),
    "decimal with more decimals than the scale": (page([{**GOOD, "price": "1.005"}]), "quarantined"),
    "decimal with too many digits": (page([{**GOOD, "price": "123456789.00"}]), "quarantined"),
    "decimal as a JSON number": (page([{**GOOD, "price": 1.25}]), "typed"),
    "decimal in an exponent": (page([{**GOOD, "price": "1e3"}]), "typed"),
    "epoch beyond a datetime": (page([{"id": 1, "time": 253402300800000}]), "quarantined"),
    "epoch as a float": (page([{"id": 1, "time": 1.5}]), "typed"),
    "ISO time without seconds": (page([{**GOOD, "seen": "2025-03-01T12:00Z"}]), "typed"),
    "an impossible date": (page([{**GOOD, "day": "2025-02-30"}]), "quarantined"),
    "a string for a boolean": (page([{**GOOD, "maker": "true"}]), "typed"),
    "a number in a string column": (page([{**GOOD, "venue": {"code": 5}}]), "typed"),
    "an object in a string column": (page([{**GOOD, "venue": {"code": {"a": 1}}}]), "quarantined"),
    "a string where an object is read": (page([{**GOOD, "venue": "XNAS"}]), "typed"),
    "a negative zero double": (b'{"data": {"items": [{"id": 1, "time": 0, "qty": -0}]}}', "typed"),
    "a double beyond a double": (b'{"data": {"items": [{"id": 1, "time": 0, "qty": 1e400}]}}', "quarantined"),
    # Nulls and missing values.
    "a required value missing": (page([GOOD, {"time": 0}]), "quarantined"),
    "a required value null": (page([{"id": None, "time": 0}]), "quarantined"),
    "a null record": (page([GOOD, None]), "quarantined"),
    "a record not an object": (page([GOOD, 5]), "quarantined"),
    "records_path null": (b'{"data": {"items": null}}', "page"),
    "records_path missing": (b'{"data": {}}', "page"),
    "records_path's parent missing": (b'{"other": 1}', "page"),
    "records_path not a list": (b'{"data": {"items": {"id": 1}}}', "page"),
    # Keys given twice: Python keeps the last, Arrow refuses.
    "a duplicate key in a record": (b'{"data": {"items": [{"id": 1, "id": 2, "time": 0}]}}', "typed"),
    "a duplicate key on the way": (b'{"data": {"items": []}, "data": {"items": [{"id": 1, "time": 0}]}}', "typed"),
    # Text rapidjson reads as JSON and Python's json does not (or differently).
    "Inf in a field not read": (b'{"data": {"items": [{"id": 1, "time": 0, "x": Inf}]}}', "page"),
    "-Inf in a field not read": (b'{"data": {"items": [{"id": 1, "time": 0, "x": -Inf}]}, "y": 1}', "page"),
    "-NaN in a field not read": (b'{"data": {"items": []}, "x": [-NaN]}', "page"),
    "invalid UTF-8 in a field not read": (b'{"data": {"items": []}, "x": "\xff"}', "page"),
    "an encoded surrogate in a field not read": (
        b'{"data": {"items": [{"id": 1, "time": 0}]}, "x": "\xed\xa0\x80"}',
        "typed",
    ),
    "a BOM": (b'\xef\xbb\xbf{"data": {"items": [{"id": 1, "time": 0}]}}', "typed"),
    "UTF-16": ('{"data": {"items": [{"id": 1, "time": 0}]}}'.encode("utf-16"), "typed"),
    "a NUL byte": (b'{"data": {"items": []}}\x00', "page"),
    "two documents": (b'{"data": {"items": [{"id": 1, "time": 0}]}}\n{"data": {"items": []}}', "page"),
    "two documents on a line": (b'{"data": {"items": []}}{"data": {"items": []}}', "page"),
    "no document": (b"  \n", "page"),
    "an empty body": (b"", "page"),
    "text after the document": (b'{"data": {"items": []}} x', "page"),
    "a top-level list": (b'[{"id": 1, "time": 0}]', "page"),
    "not JSON": (b"{not json", "page"),
    "a string that looks like Inf after a colon": (page([{**GOOD, "venue": {"code": "note: Inf"}}]), "typed"),
}


@pytest.mark.parametrize("case", sorted(DECLINED))
def test_pages_the_fast_path_cannot_vouch_for_are_declined(case):
    body, slow_result = DECLINED[case]
    fast, slow = typed_both(TABLE, body)
    assert fast is None
    # What the orjson path makes of it, so each case is the one it says it is.
    if slow_result == "page":
        assert slow.table.num_rows == 0 and len(slow.quarantined) == 1
        assert slow.quarantined[0].reason.startswith(("page is not valid JSON", "records_path"))
    elif slow_result == "quarantined":
        assert slow.quarantined and not slow.quarantined[0].reason.startswith("page")
    else:
        assert not slow.quarantined and slow.table.num_rows >= 1


ACCEPTED_PAGES: dict[str, bytes] = {
    "NaN and Infinity in fields not read (Python's json reads them)": (
        b'{"data": {"items": [{"id": 1, "time": 0, "x": NaN, "y": [Infinity, -Infinity]}]}}'
    ),
    "Inf and NaN inside strings": page([{**GOOD, "venue": {"code": "Info", "region": "NaNa"}, "z": "x-Inf"}]),
    "a duplicate key in a field not read": b'{"data": {"items": [{"id": 1, "time": 0, "x": {"k": 1, "k": 2}}]}}',
    "a key written with escapes": b'{"data": {"items": [{"\\u0069d": 7, "time": 0}]}}',
    "escapes and non-ASCII text": page([{**GOOD, "venue": {"code": 'q"\\/\n\t\x01é中😀'}}], next="ü"),
    "non-ASCII UTF-8 as it is": json.dumps(
        {"data": {"items": [{**GOOD, "venue": {"code": "中😀"}}]}}, ensure_ascii=False
    ).encode(),
    "pretty-printed": json.dumps({"data": {"items": [GOOD, {**GOOD, "venue": {"code": "a\nb"}}]}}, indent=2).encode(),
    "a null optional object": page([{**GOOD, "venue": None}, {**GOOD, "venue": {}}]),
    "an empty list": page([]),
    "integers beyond int64 in a double column": page([{**GOOD, "qty": 2**70}, {**GOOD, "qty": 3}]),
    "whitespace around": b' \r\n\t{"data": {"items": [{"id": 1, "time": 0}]}}\r\n ',
}


@pytest.mark.parametrize("case", sorted(ACCEPTED_PAGES))
def test_pages_with_nothing_in_doubt_are_taken(case):
    fast, slow = typed_both(TABLE, ACCEPTED_PAGES[case])
    assert fast is not None and fast.num_rows == slow.table.num_rows


def test_a_top_level_list_is_read_when_records_path_is_empty():
    body = json.dumps([GOOD, {**GOOD, "id": 2, "extra": {"a": [1, 2]}}]).encode()
    fast, _ = typed_both(TABLE, body, "")
    assert fast is not None and fast.column("trade_id").to_pylist() == [1, 2]
    # Fields not read are inferred there: one of two JSON types declines the page.
    fast, slow = typed_both(TABLE, json.dumps([{**GOOD, "x": 1}, {**GOOD, "x": "a"}]).encode(), "")
    assert fast is None and slow.table.num_rows == 2
    # A list led by a null, inferred, is an invalid array in pyarrow 26 (apache/arrow#51305).
    fast, slow = typed_both(TABLE, json.dumps([{**GOOD, "x": [None, 1]}]).encode(), "")
    assert fast is None and slow.table.num_rows == 1
    # Text after the list is not JSON (the orjson path says so), though wrapped in an
    # object it would read as one more key.
    for bad in (b'[{"id": 1, "time": 0}], "x": 1', b'[{"id": 1, "time": 0}], "records": []', b"null", b"{}"):
        fast, slow = typed_both(TABLE, bad, "")
        assert fast is None and slow.table.num_rows == 0


def test_sandbox_trade_pages_are_taken_and_typed_alike():
    endpoint = load_endpoint(Path(__file__).parents[4] / "config" / "endpoints" / "sandbox_trades.yaml")
    records = [trade(MarketConfig(), "BTCUSDT", i) for i in range(300)]
    body = json.dumps({"data": {"items": records}, "total": 300}).encode()
    fast, slow = typed_both(endpoint.table, body, endpoint.response_map.records_path)
    assert fast is not None and fast.num_rows == 300
