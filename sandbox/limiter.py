"""The sandbox's server-side rate limit: at most R admitted requests per window.

``sliding`` (the default) admits a request only if fewer than R requests were admitted
in the last 1.0 s, so *any* 1-second interval holds at most R admitted requests: the
strict reading of "never more than R in any second" that crawler tests assert.
``fixed`` counts per wall-clock second (``int(time.time())``), like many real APIs;
it lets 2R through across a second boundary. Rejected requests do not use up quota.
Not thread-safe on its own: the app calls it under its lock.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

WindowKind = Literal["sliding", "fixed"]


class RateLimiter:
    def __init__(self, limit: int | None, kind: WindowKind = "sliding") -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"rate limit must be at least 1 request per second (or None for unlimited), got {limit}")
        self.limit = limit
        self.kind = kind
        self._admitted: deque[float] = deque()
        self._second = -1
        self._in_second = 0

    def admit(self, now: float) -> int | None:
        """None when the request at wall time ``now`` is admitted, else Retry-After seconds."""
        if self.limit is None:
            return None
        if self.kind == "fixed":
            second = int(now)
            if second != self._second:
                self._second, self._in_second = second, 0
            if self._in_second >= self.limit:
                return 1
            self._in_second += 1
            return None
        while self._admitted and self._admitted[0] <= now - 1.0:
            self._admitted.popleft()
        if len(self._admitted) >= self.limit:
            # Whole seconds (RFC 9110 delay-seconds), rounded up so obeying it always works.
            return max(1, math.ceil(self._admitted[0] + 1.0 - now))
        self._admitted.append(now)
        return None
