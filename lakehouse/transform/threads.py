"""The transform's two thread pools, owned in one place."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

# Threads writing a slot's files while the next slot is typed (pyarrow encodes and
# uploads off the GIL).
FILE_THREADS = 2

T = TypeVar("T")


class WriteThreads:
    """One batch write in flight while the next batch is read and typed (writes run one
    after another, in slot order, so at most two batches are held at once), and a few
    threads writing single slots' files in the background, at most a few slots ahead."""

    def __init__(self, file_threads: int = FILE_THREADS) -> None:
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-write")
        self._files = ThreadPoolExecutor(max_workers=file_threads, thread_name_prefix="raw-files")
        self._in_flight: Future[None] | None = None
        self._pending: deque[Future[Any]] = deque()
        self._ahead = 2 * file_threads

    def __enter__(self) -> WriteThreads:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._files.shutdown(wait=True)
        self._writes.shutdown(wait=True)

    def write(self, write: Callable[[], None]) -> None:
        """Start ``write`` once the write in flight has ended (raising its failure)."""
        self.wait()
        self._in_flight = self._writes.submit(write)

    def wait(self) -> None:
        """Wait for the write in flight; its failure is raised here."""
        if self._in_flight is not None:
            self._in_flight.result()

    def in_background(self, *calls: Callable[[], T]) -> list[Future[T]]:
        """Start ``calls`` on the file threads, once no more than a few earlier ones are
        unfinished (bounded: only a few slots' rows wait for their files at once)."""
        while len(self._pending) >= self._ahead:
            self._pending.popleft().exception()
        futures = [self._files.submit(call) for call in calls]
        self._pending.extend(futures)
        return futures
