"""A dependent endpoint's requests: one paginated sequence per parent value, in turn.

It answers ``first_url`` / ``next_url`` like a paginator, so ``JobRun`` crawls a
child job exactly as any other; ``current_key`` says which parent value the page
being handled belongs to (recorded in the manifest).
"""

from __future__ import annotations

from collections.abc import Mapping

from lakehouse.endpoints.parent_rules import child_url
from lakehouse.endpoints.url_policy import UrlPolicy
from scrapworker.pagination import Page, PaginationConfig, Paginator, paginator_for


class ChildRequests:
    def __init__(
        self,
        pagination: PaginationConfig,
        url: str,
        placeholder: str,
        params: Mapping[str, str],
        keys: list[str],
        secret_params: frozenset[str] = frozenset(),
        policy: UrlPolicy | None = None,
    ) -> None:
        if not keys:
            raise ValueError("a child crawl needs at least one parent value")
        self._pagination = pagination
        self._url = url
        self._placeholder = placeholder
        self._params = params
        self._secret_params = secret_params
        # Each child URL is checked like a next link: a parent record picks a path, never a host.
        self._policy = policy
        self.keys = keys
        self._index = 0
        self._current = self._paginator()

    def _paginator(self) -> Paginator:
        url = child_url(self._url, self._placeholder, self.keys[self._index])
        return paginator_for(self._pagination, url, self._params, self._secret_params, self._policy)

    @property
    def current_key(self) -> str:
        return self.keys[self._index]

    def first_url(self) -> str:
        return self._current.first_url()

    def next_url(self, page: Page) -> str | None:
        nxt = self._current.next_url(page)
        if nxt is not None:
            return nxt
        if self._index + 1 >= len(self.keys):
            return None
        self._index += 1
        self._current = self._paginator()
        return self._current.first_url()
