"""Pages in, one typed Arrow table (plus quarantine entries) out, a chunk at a time.

``PageBatch`` types parsed pages with ``ArrowTyper``; ``FastPageBatch`` first offers
each page to ``ArrowJsonPages`` (pyarrow.json, off the GIL, in the page fetching
threads) and types only the pages it declines the orjson way.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from lakehouse.transform.arrow_pages import ArrowJsonPages
from lakehouse.transform.pages import page_records
from lakehouse.transform.typer import ArrowTyper, QuarantineEntry, TypedRecords

log = logging.getLogger(__name__)

# Records typed per call of the vectorised path: large enough that pyarrow's per-call
# cost vanishes, small enough that the parsed Python objects stay a few tens of MB.
CHUNK_RECORDS = 32_768


@contextmanager
def gc_paused() -> Iterator[None]:
    """Parsing allocates a dict per record and no cycles; the cyclic collector would
    otherwise rescan every live object many times per page.

    Pause it over a whole landing, not page by page: re-enabled between pages, each
    page's first allocation runs a collection over the chunk's pending records (up to
    CHUNK_RECORDS dicts; docs/benchmarks.md has what that cost). Paused, memory still
    stays bounded: acyclic objects are freed by reference counting."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class PageBatch:
    """Pages in, one Arrow table (plus quarantine entries) out, typed a chunk at a time
    so that only CHUNK_RECORDS records are ever Python objects at once.

    Rows keep the order of their pages. Quarantine entries come in the order their
    chunks were typed (a page problem is added at once, a misfit record when its chunk
    is typed)."""

    def __init__(self, typer: ArrowTyper, records_path: str, chunk_records: int = CHUNK_RECORDS) -> None:
        self.typer = typer
        self.records_path = records_path
        self.chunk_records = chunk_records
        self.quarantined: list[QuarantineEntry] = []
        self._tables: list[pa.Table] = []
        self._pending: list[Any] = []
        self._spans: list[tuple[int, str]] = []
        # Pages typed elsewhere (add_typed), waiting to be joined into one chunk; at
        # most one of this and _pending holds anything, so rows keep their order.
        self._typed: list[pa.Table] = []
        self._typed_rows = 0

    @property
    def rows(self) -> int:
        return sum(int(t.num_rows) for t in self._tables) + self._typed_rows

    def add_problem(self, entry: QuarantineEntry) -> None:
        self.quarantined.append(entry)

    def add_page(self, raw_key: str, body: bytes) -> None:
        with gc_paused():
            found = page_records(body, self.records_path, raw_key)
            if isinstance(found, QuarantineEntry):
                self.quarantined.append(found)
                return
            self._join_typed()
            self._spans.append((len(self._pending), raw_key))
            self._pending.extend(found)
            if len(self._pending) >= self.chunk_records:
                self._type_pending()

    def _type_pending(self) -> None:
        if self._pending:
            typed = self.typer.type_records(self._pending, self._spans)
            self._tables.append(typed.table)
            self.quarantined.extend(typed.quarantined)
        self._pending, self._spans = [], []

    def add_typed(self, table: pa.Table) -> None:
        """A page typed already, none of its records quarantined (arrow_pages.py);
        its rows go after those of the pages added before it."""
        with gc_paused():
            self._type_pending()
        self._typed.append(table)
        self._typed_rows += table.num_rows
        if self._typed_rows >= self.chunk_records:
            self._join_typed()

    def _join_typed(self) -> None:
        # One chunk per CHUNK_RECORDS rows, as typed chunks have: a table of a thousand
        # one-page chunks would be a thousand write tasks or row groups downstream.
        if self._typed:
            self._tables.append(pa.concat_tables(self._typed).combine_chunks())
        self._typed, self._typed_rows = [], 0

    def finish(self) -> TypedRecords:
        with gc_paused():
            self._type_pending()
        self._join_typed()
        table = pa.concat_tables(self._tables) if self._tables else self.typer.empty()
        self._tables = []
        return TypedRecords(table, self.quarantined)


def type_pages(
    typer: ArrowTyper, pages: Iterable[tuple[str, bytes]], records_path: str, chunk_records: int = CHUNK_RECORDS
) -> TypedRecords:
    """(raw_key, body) pages -> their typed rows and quarantine entries."""
    batch = PageBatch(typer, records_path, chunk_records)
    with gc_paused():
        for raw_key, body in pages:
            batch.add_page(raw_key, body)
        return batch.finish()


# add_page's ``prepared``: not given (try the page here), or not tried (see _trying).
_UNSET: Any = object()
_UNTRIED: Any = object()
# Declined pages after which a landing with too many of them stops being tried.
GIVE_UP_AFTER = 16
# Pages parsed at once by the fetching threads: one per core. All eight fetching
# threads parsing at once on two cores took 20-25 % more CPU for the same pages (cache
# and GIL contention; benchmarks/typing_bench.py) and were no faster.
PARSE_THREADS = os.cpu_count() or 2
_parsing = threading.BoundedSemaphore(PARSE_THREADS)


class FastPageBatch(PageBatch):
    """A PageBatch that takes each page through ``ArrowJsonPages`` when it can.

    ``prepare`` is what the page fetching threads call on each body (off the GIL, in
    parallel with this thread's typing of declined pages); ``add_page`` then takes
    its result. Without it, ``add_page`` tries the page here."""

    def __init__(
        self, typer: ArrowTyper, records_path: str, chunk_records: int = CHUNK_RECORDS, fast: bool = True
    ) -> None:
        super().__init__(typer, records_path, chunk_records)
        self.pages = ArrowJsonPages.for_table(typer.table, records_path) if fast else None
        self.taken = 0
        self.declined = 0

    @property
    def prepare(self) -> Callable[[bytes], Any] | None:
        return self._prepare if self.pages is not None else None

    def _trying(self) -> bool:
        # A declined page costs its try and then the orjson path: with a misfit in one
        # page of four the two paths took 30 % more CPU than the orjson path alone
        # (benchmarks/typing_bench.py --misfit-every 4), so a landing with more stops.
        return self.declined < GIVE_UP_AFTER or 3 * self.declined <= self.taken

    def _prepare(self, body: bytes) -> pa.Table | None:
        assert self.pages is not None
        if not self._trying():
            return _UNTRIED
        with _parsing:
            return self.pages.type_page(body)

    def add_page(self, raw_key: str, body: bytes, prepared: Any = _UNSET) -> None:
        if self.pages is not None:
            if prepared is _UNSET:
                prepared = self.pages.type_page(body) if self._trying() else None
            if prepared is not None and prepared is not _UNTRIED:
                self.taken += 1
                self.add_typed(prepared)
                return
            self.declined += 1  # declined or not tried: the orjson path's
        super().add_page(raw_key, body)

    def finish(self) -> TypedRecords:
        if self.pages is not None:
            log.debug("pyarrow.json typed %d page(s), the orjson path %d", self.taken, self.declined)
        return super().finish()
