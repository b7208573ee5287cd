"""One function family builds every raw key; the manifest checks itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from lakehouse.raw import layout as raw_layout
from lakehouse.raw.layout import Manifest, ManifestPage, manifest_key, page_key, redact_url, run_prefix

pytestmark = pytest.mark.unit

SLOT = datetime(2025, 3, 1, 9, 5, tzinfo=UTC)
RUN = "sandbox_trades__20250301T0905Z"
PREFIX = f"raw/sandbox_trades/ds=2025-03-01/hr=09/min=05/{RUN}/"
ATTEMPT = 5


def test_run_prefix_layout_is_exact_and_utc() -> None:
    assert run_prefix("raw", "sandbox_trades", SLOT, RUN) == PREFIX
    assert run_prefix("/raw/", "sandbox_trades", SLOT, RUN) == PREFIX
    assert run_prefix("", "sandbox_trades", SLOT, RUN) == PREFIX.removeprefix("raw/")
    # 10:05 at UTC+1 is 09:05 UTC: partitions never follow the caller's zone.
    local = SLOT.astimezone(timezone(timedelta(hours=1)))
    assert run_prefix("raw", "sandbox_trades", local, RUN) == PREFIX
    assert raw_layout.partition_of(local) == ("2025-03-01", "09", "05")


def test_layout_refuses_naive_times_and_unsafe_segments() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        run_prefix("raw", "sandbox_trades", SLOT.replace(tzinfo=None), RUN)
    with pytest.raises(ValueError, match="not safe"):
        run_prefix("raw", "../etc", SLOT, RUN)
    with pytest.raises(ValueError, match="not safe"):
        run_prefix("raw", "sandbox_trades", SLOT, "a/b")


def test_page_keys_are_deterministic_per_attempt_and_sort_in_page_order() -> None:
    keys = [page_key(PREFIX, i, 1718000000123) for i in (1, 2, 10, 100, 999_999)]
    assert keys[0] == PREFIX + "attempt-1718000000123/page-000001.json"
    assert keys == sorted(keys)
    assert page_key(PREFIX, 1, None) == PREFIX + "page-000001.json"  # before attempt folders
    assert manifest_key(PREFIX) == PREFIX + "_manifest.json"
    for bad in (0, -1, 1_000_000):
        with pytest.raises(ValueError, match="page index"):
            page_key(PREFIX, bad, 7)
    with pytest.raises(ValueError, match="end with '/'"):
        page_key(PREFIX.rstrip("/"), 1, 7)
    with pytest.raises(ValueError, match="not a lease id"):
        page_key(PREFIX, 1, 0)


def test_attempt_of_names_the_attempt_of_page_keys_only() -> None:
    assert raw_layout.attempt_of(PREFIX, page_key(PREFIX, 3, 42)) == 42
    assert raw_layout.attempt_of(PREFIX, page_key(PREFIX, 3, None)) == 0  # older than any attempt
    # Never the manifest, nothing outside the prefix, nothing the layout does not know.
    for key in (
        manifest_key(PREFIX),
        page_key("raw/other/", 1, 42),
        PREFIX + "attempt-42/",
        PREFIX + "attempt-042/page-000001.json",
        PREFIX + "attempt-x/page-000001.json",
        PREFIX + "attempt-4/deeper/page-000001.json",
        PREFIX + "notes.txt",
        PREFIX + "page-1.json",
    ):
        assert raw_layout.attempt_of(PREFIX, key) is None, key


@pytest.mark.parametrize(
    ("url", "extra", "expected"),
    [
        ("https://u:p@api.example.com/v1?a=1", (), "https://api.example.com/v1?a=1"),
        (
            "https://api.example.com/v1?symbol=BTC&api_key=s3cr3t&limit=10",
            (),
            "https://api.example.com/v1?symbol=BTC&limit=10",
        ),
        ("https://api.example.com/v1?Token=s3cr3t", (), "https://api.example.com/v1"),
        ("https://api.example.com/v1?sym=A&custom_auth=s3cr3t", ("custom_auth",), "https://api.example.com/v1?sym=A"),
        ("https://api.example.com/v1?ids=1,2%2C3&b=x+y", (), "https://api.example.com/v1?ids=1,2%2C3&b=x+y"),
    ],
)
def test_redact_url(url: str, extra: tuple[str, ...], expected: str) -> None:
    assert redact_url(url, extra) == expected
    assert not raw_layout.url_has_secrets(expected, extra)
    assert raw_layout.url_has_secrets(url, extra) == (url != expected)


def _page(index: int, *, records: int = 10, body: bytes = b"[]", url: str | None = None) -> ManifestPage:
    return ManifestPage(
        index=index,
        key=page_key(PREFIX, index, ATTEMPT),
        url=url or f"http://127.0.0.1:18080/v1/offset?offset={(index - 1) * 10}",
        status_code=200,
        records=records,
        bytes=len(body),
        sha256=raw_layout.sha256_hex(body),
        fetched_at=SLOT + timedelta(minutes=20),
        elapsed_seconds=0.05,
    )


def _manifest(pages: list[ManifestPage]) -> Manifest:
    return Manifest.build(
        run_id=RUN,
        endpoint="sandbox_trades",
        slot_start=SLOT,
        slot_end=SLOT + timedelta(minutes=15),
        prefix=PREFIX,
        pages=pages,
        started_at=SLOT + timedelta(minutes=20),
        finished_at=SLOT + timedelta(minutes=21),
        worker_id="w1",
        attempt=ATTEMPT,
    )


def test_manifest_totals_key_and_round_trip() -> None:
    manifest = _manifest([_page(1, records=10, body=b"[1]"), _page(2, records=3, body=b"[22]")])
    assert (manifest.total_pages, manifest.total_records, manifest.total_bytes) == (2, 13, 7)
    assert manifest.key == PREFIX + "_manifest.json"
    assert Manifest.from_json(manifest.to_json_bytes()) == manifest
    assert _manifest([]).total_pages == 0


def test_manifest_rejects_gaps_wrong_keys_wrong_totals_and_secret_urls() -> None:
    with pytest.raises(ValidationError, match="without gaps"):
        _manifest([_page(1), _page(3)])
    with pytest.raises(ValidationError, match="key"):
        _manifest([_page(1).model_copy(update={"key": PREFIX + "page-1.json"})])
    with pytest.raises(ValidationError, match="credentials"):
        _page(1, url="http://127.0.0.1/v1?token=abc")
    good = _manifest([_page(1)]).model_dump()
    good["total_records"] = 99
    with pytest.raises(ValidationError, match="totals"):
        Manifest.model_validate(good)
    # The pages must be in the manifest's attempt folder (a landing never lists another's).
    with pytest.raises(ValidationError, match="key"):
        _manifest([_page(1).model_copy(update={"key": page_key(PREFIX, 1, ATTEMPT + 1)})])
    other = _manifest([_page(1)]).model_dump()
    other["prefix"] = "raw/elsewhere/"
    with pytest.raises(ValidationError, match="layout prefix"):
        Manifest.model_validate(other)


def test_run_prefix_of_any_key_of_a_run() -> None:
    for key in (page_key(PREFIX, 2, 9), page_key(PREFIX, 2, None), manifest_key(PREFIX)):
        assert raw_layout.run_prefix_of(key) == PREFIX, key
    assert raw_layout.run_prefix_of(raw_layout.cursor_reset_key("raw", "sandbox_trades")) is None


def test_a_manifest_from_before_attempt_folders_still_reads() -> None:
    legacy = _manifest([_page(1)]).model_dump(mode="json")
    del legacy["attempt"]
    legacy["pages"][0]["key"] = page_key(PREFIX, 1, None)
    read = Manifest.from_json(json.dumps(legacy))
    assert read.attempt is None and read.pages[0].key == PREFIX + "page-000001.json"


def test_day_prefixes_cover_the_range_in_utc_and_end_exclusive() -> None:
    start = datetime(2025, 3, 1, 23, 45, tzinfo=UTC)
    assert raw_layout.day_prefixes("raw", "sandbox_trades", start, datetime(2025, 3, 3, tzinfo=UTC)) == [
        "raw/sandbox_trades/ds=2025-03-01/",
        "raw/sandbox_trades/ds=2025-03-02/",
    ]
    # 00:30 at UTC+1 is still the 1st in UTC: no prefix for the 2nd.
    plus_one = timezone(timedelta(hours=1))
    assert raw_layout.day_prefixes("/raw/", "sandbox_trades", start, datetime(2025, 3, 2, 0, 30, tzinfo=plus_one)) == [
        "raw/sandbox_trades/ds=2025-03-01/",
    ]
    assert raw_layout.day_prefix("", "sandbox_trades", SLOT.date()) == "sandbox_trades/ds=2025-03-01/"
    assert raw_layout.endpoint_prefix("raw", "sandbox_trades") == "raw/sandbox_trades/"
    # Every run prefix of a day starts with that day's prefix.
    assert PREFIX.startswith(raw_layout.day_prefix("raw", "sandbox_trades", SLOT.date()))
    with pytest.raises(ValueError, match="no timezone"):
        raw_layout.day_prefixes("raw", "sandbox_trades", start.replace(tzinfo=None), start)


def test_a_manifest_key_parses_back_to_its_landing() -> None:
    landing = raw_layout.parse_manifest_key(manifest_key(PREFIX))
    assert landing == raw_layout.LandingKey("sandbox_trades", SLOT, RUN)
    assert raw_layout.parse_manifest_key(manifest_key(PREFIX.removeprefix("raw/"))) == landing
    assert raw_layout.parse_manifest_key(manifest_key(run_prefix("a/b", "e", SLOT, "r"))) == ("e", SLOT, "r")


@pytest.mark.parametrize(
    "key",
    [
        PREFIX + "page-000001.json",  # a page, not the manifest
        PREFIX + "x/_manifest.json",  # one level too deep
        "raw/sandbox_trades/ds=2025-02-30/hr=00/min=00/r/_manifest.json",  # no such day
        "raw/sandbox_trades/ds=2025-03-01/hr=24/min=00/r/_manifest.json",
        "raw/sandbox_trades/ds=2025-03-01/hr=9/min=05/r/_manifest.json",  # not the layout's padding
    ],
)
def test_other_keys_are_not_landings(key: str) -> None:
    assert raw_layout.parse_manifest_key(key) is None
