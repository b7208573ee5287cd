"""Fetching raw pages for the transform: in manifest order, bounded ahead, checked."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from lakehouse.config.settings import S3Settings
from lakehouse.raw.layout import ManifestPage, sha256_hex
from lakehouse.transform.fetch import PageFetcher, prefetched, s3_filesystem

SETTINGS = S3Settings(
    endpoint_url="http://127.0.0.1:18333", bucket="warehouse", access_key_id="k", secret_access_key="s"
)


def _page(key: str, body: bytes, sha256: str | None = None) -> ManifestPage:
    return ManifestPage(
        index=1,
        key=key,
        url="http://127.0.0.1/x",
        status_code=200,
        records=1,
        bytes=len(body),
        sha256=sha256 or sha256_hex(body),
        fetched_at=datetime(2025, 3, 1, tzinfo=UTC),
        elapsed_seconds=0.01,
    )


@pytest.fixture()
def fetcher(tmp_path: Path) -> PageFetcher:
    # The bucket as a directory: the same pyarrow FileSystem interface S3 has.
    (tmp_path / "warehouse" / "raw").mkdir(parents=True)
    return PageFetcher(SETTINGS, threads=4, filesystem=pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem()))


def test_a_page_is_read_and_checked_against_its_checksum(fetcher, tmp_path):
    (tmp_path / "warehouse" / "raw" / "p1.json").write_bytes(b'{"a": 1}')
    good = fetcher.read("raw/p1.json", sha256_hex(b'{"a": 1}'))
    assert (good.body, good.checksum_ok) == (b'{"a": 1}', True)
    changed = fetcher.read("raw/p1.json", sha256_hex(b"what the manifest vouched for"))
    assert (changed.body, changed.checksum_ok) == (b'{"a": 1}', False)


def test_a_page_missing_from_the_bucket_has_no_body(fetcher):
    missing = fetcher.read("raw/gone.json", sha256_hex(b""))
    assert (missing.key, missing.body, missing.checksum_ok) == ("raw/gone.json", None, False)


def test_pages_come_in_manifest_order(fetcher, tmp_path):
    pages = []
    for i in range(50):
        body = f'{{"page": {i}}}'.encode()
        (tmp_path / "warehouse" / "raw" / f"p{i}.json").write_bytes(body)
        pages.append(_page(f"raw/p{i}.json", body))
    pages.append(_page("raw/gone.json", b""))
    got = list(fetcher.pages(pages))
    assert [p.key for p in got] == [p.key for p in pages]
    assert [p.checksum_ok for p in got] == [True] * 50 + [False]


def test_prepare_runs_in_the_fetching_threads_on_pages_that_match_their_checksum(fetcher, tmp_path):
    raw = tmp_path / "warehouse" / "raw"
    raw.mkdir(exist_ok=True)
    (raw / "p1.json").write_bytes(b'{"a": 1}')
    (raw / "p2.json").write_bytes(b'{"a": 22}')
    pages = [_page("raw/p1.json", b'{"a": 1}'), _page("raw/p2.json", b"vouched"), _page("raw/gone.json", b"")]
    threads = []

    def prepare(body: bytes) -> int:
        threads.append(threading.current_thread().name)
        return len(body)

    got = list(fetcher.pages(pages, prepare))
    assert [p.prepared for p in got] == [8, None, None]
    assert threads and all(name.startswith("raw-fetch") for name in threads)
    assert [p.prepared for p in fetcher.pages(pages)] == [None, None, None]


def test_prefetch_keeps_order_and_holds_at_most_twice_the_threads_ahead():
    lock = threading.Lock()
    state = {"started": 0, "consumed": 0, "max_ahead": 0}

    def fetch(i: int) -> int:
        with lock:
            state["started"] += 1
            state["max_ahead"] = max(state["max_ahead"], state["started"] - state["consumed"])
        time.sleep(random.uniform(0, 0.003))  # finish out of order
        return i

    out = []
    for value in prefetched(fetch, range(200), threads=3):
        out.append(value)
        with lock:
            state["consumed"] += 1
    assert out == list(range(200))
    assert state["max_ahead"] <= 2 * 3


def test_a_consumer_that_stops_early_leaves_no_fetch_running():
    started: list[int] = []

    def fetch(i: int) -> int:
        started.append(i)
        time.sleep(0.01)
        return i

    pages = prefetched(fetch, range(1000), threads=2)
    assert next(pages) == 0
    pages.close()  # what a for loop's exception does to the generator
    settled = len(started)
    time.sleep(0.05)
    assert len(started) == settled <= 2 * 2 + 1


def test_a_fetch_error_reaches_the_consumer():
    def fetch(i: int) -> int:
        if i == 3:
            raise OSError("connection reset")
        return i

    with pytest.raises(OSError, match="connection reset"):
        list(prefetched(fetch, range(10), threads=2))


def test_the_s3_filesystem_uses_the_settings_region():
    assert s3_filesystem(SETTINGS).region == "us-east-1"
