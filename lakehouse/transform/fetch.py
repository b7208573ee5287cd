"""Fetching a landing's raw pages for the transform: many at once, off the GIL, each
checked against the manifest's sha256 as it arrives.

Pages are read with pyarrow's S3 filesystem (the AWS C++ SDK) rather than boto3: a
boto3 GET spends its time in Python (event hooks, signing, header and response
parsing), holding the GIL the typer on the same driver needs; pyarrow's read runs in
C++ with the GIL released (docs/benchmarks.md has the measured difference). hashlib
releases the GIL on large buffers too, so the checksum is taken in the fetching
thread, in the same pass. pyarrow is already the typer's and pyiceberg's dependency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from lakehouse.raw.layout import sha256_hex

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from lakehouse.config.settings import S3Settings
    from lakehouse.raw.layout import ManifestPage

# GETs in flight: enough to hide an object store's latency; the work is off the GIL,
# so more threads cost the typer nothing but a few MB of pages held ahead.
FETCH_THREADS = 8
# Same retry budget as the boto3 clients of lakehouse.raw.storage.
MAX_ATTEMPTS = 5

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PageBody:
    key: str
    body: bytes | None  # None: listed in the manifest, gone from the bucket
    checksum_ok: bool
    prepared: Any = None  # what PageFetcher.pages' ``prepare`` made of the body, if asked


def prefetched(fetch: Callable[[T], R], items: Iterable[T], threads: int = FETCH_THREADS) -> Iterator[R]:
    """fetch(item) for each item, in order, with at most 2 x threads fetched ahead.

    Closing the iterator early (an exception in the consumer) cancels what has not
    started and waits for what has, so no thread outlives the caller's loop."""
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="raw-fetch") as pool:
        ahead: deque[Future[R]] = deque()
        try:
            for item in items:
                ahead.append(pool.submit(fetch, item))
                if len(ahead) >= 2 * threads:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:
            for future in ahead:
                future.cancel()


def s3_filesystem(s3: S3Settings) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem on the settings' object store (path-style, as boto3 here)."""
    import pyarrow.fs as pafs

    key, secret = s3.require_credentials()
    endpoint = urlparse(s3.endpoint_url)
    return pafs.S3FileSystem(
        access_key=key,
        secret_key=secret,
        region=s3.region,
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme or "https",
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=MAX_ATTEMPTS),
    )


class PageFetcher:
    """Reads pages of one bucket; one per job (the filesystem keeps its connections)."""

    def __init__(self, s3: S3Settings, threads: int = FETCH_THREADS, filesystem: pafs.FileSystem | None = None) -> None:
        self.bucket = s3.bucket
        self.threads = threads
        self._fs = filesystem if filesystem is not None else s3_filesystem(s3)

    def read(self, key: str, sha256: str, prepare: Callable[[bytes], Any] | None = None) -> PageBody:
        """One page; body None when the manifest lists it but the bucket does not have it."""
        try:
            with self._fs.open_input_stream(f"{self.bucket}/{key}") as stream:
                body = stream.read()
        except FileNotFoundError:
            return PageBody(key, None, False)
        ok = sha256_hex(body) == sha256
        return PageBody(key, body, ok, prepare(body) if ok and prepare is not None else None)

    def pages(self, pages: Iterable[ManifestPage], prepare: Callable[[bytes], Any] | None = None) -> Iterator[PageBody]:
        """The manifest's pages in order, ``threads`` at a time. ``prepare``, if given, is
        called on each body that matches its checksum, in the fetching thread, and its
        result is the PageBody's ``prepared``: for work that releases the GIL (parsing a
        page with pyarrow.json, arrow_pages.py), which then runs in parallel
        with the caller's."""
        return prefetched(lambda page: self.read(page.key, page.sha256, prepare), pages, self.threads)
