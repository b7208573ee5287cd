"""A token bucket in Redis shared by every worker process on every host.

Each bucket (an endpoint's name, or a key shared by endpoints of one API) is one
Redis hash updated by one Lua script (``lakehouse/queue/lua/ratelimit_*.lua``, built as the
queue's are), so the check-and-take is atomic and all processes see one bucket. Time
comes from the Redis server (``TIME``), never from the callers, so skewed host clocks
cannot hand out extra tokens.

The algorithm is GCRA, the exact equivalent of a token bucket with rate R and
capacity B, kept as one number: the theoretical arrival time ``tat`` of the next
request at the steady rate. A request is allowed when ``now >= tat - (B-1)·T``
(T = 1/R, rounded *up* to the microsecond so rounding can never add a token).

The guarantee, on the Redis server's clock, for grants of one bucket:

* in any half-open window of length W seconds there are at most
  ``B + ceil(W·R) - 1`` grants; with ``burst=1`` consecutive grants are at least
  1/R apart, so **never more than R grants in any 1-second window** (integer R).
* with ``burst=B > 1`` a window can hold ``R + B - 1`` grants (the bucket was full
  at its start): an upstream that counts "R per second" will see more than R. Use
  B > 1 only when the upstream's own limit is a bucket with at least that burst.

What an upstream sees is the grant times shifted by each request's own latency,
which varies; two grants 1/R apart can arrive closer together than that. Callers
that must never trip a strict per-second counter should configure R a little
below the upstream limit (a few percent covers loopback/LAN jitter).

``acquire`` does not reserve: a caller told to wait asks again after waiting, so a
caller that dies while waiting costs nothing. All callers of one bucket must pass
the same rate, burst and slack (they come from one endpoint config).

``slack`` (seconds) lets a grant come up to that much before ``tat``. Without it,
a caller that wakes δ late (timer resolution, a thread hop, the Redis round trip)
is granted δ late and the schedule restarts from there, so every request loses δ
(the measured loss is in docs/benchmarks.md). With slack ≥ δ the next ``tat``
still advances by exactly T from the previous one, so the long-run rate is R. The
price is the bound: k consecutive grants are at least ``k·T - (B-1)·T - slack``
apart, so keep slack below the margin a reduced rate leaves in a window
(``SharedRateLimitMiddleware`` checks this).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from lakehouse.errors import RateLimitTimeoutError
from lakehouse.queue.keys import DEFAULT_PREFIX, Keys
from lakehouse.queue.lua import script_text


@dataclass(frozen=True)
class Decision:
    wait_seconds: float  # 0: granted, go now; else ask again after this long
    server_time: float  # Redis clock (epoch seconds) when the decision was made

    @property
    def granted(self) -> bool:
        return self.wait_seconds == 0


def _interval_us(rate: float, burst: int) -> int:
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a positive number of requests per second, got {rate!r}")
    if not isinstance(burst, int) or burst < 1:
        raise ValueError(f"burst must be an integer >= 1, got {burst!r}")
    # Up, never down: a shorter interval would let R+1 grants into one second.
    return math.ceil(1_000_000 / rate)


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self._acquire = client.register_script(script_text("ratelimit_acquire"))
        self._pause = client.register_script(script_text("ratelimit_pause"))

    def try_acquire(self, bucket: str, rate: float, burst: int = 1, slack: float = 0.0) -> Decision:
        interval_us = _interval_us(rate, burst)
        if not (0 <= slack * 1e6 < interval_us):
            raise ValueError(f"slack must be in [0, 1/rate) seconds, got {slack!r} at rate {rate!r}")
        wait_us, now_us = self._acquire(
            keys=[self.keys.ratelimit(bucket)],
            # Down, never up: rounding must not widen the slack.
            args=[interval_us, burst, math.floor(slack * 1e6)],
        )
        return Decision(wait_seconds=int(wait_us) / 1e6, server_time=int(now_us) / 1e6)

    def acquire(self, bucket: str, rate: float, burst: int = 1, slack: float = 0.0) -> float:
        """Take a token if one is free. Returns 0.0 (go now) or the seconds to wait
        before asking again; nothing is reserved while the caller waits."""
        return self.try_acquire(bucket, rate, burst, slack).wait_seconds

    def acquire_blocking(
        self,
        bucket: str,
        rate: float,
        burst: int = 1,
        *,
        slack: float = 0.0,
        timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Decision:
        """Wait until a token is granted; returns the granting decision. Raises
        RateLimitTimeoutError when ``timeout`` seconds pass without one."""
        started = time.monotonic()
        while True:
            decision = self.try_acquire(bucket, rate, burst, slack)
            if decision.granted:
                return decision
            waited = time.monotonic() - started
            if timeout is not None and waited + decision.wait_seconds > timeout:
                raise RateLimitTimeoutError(bucket, max(waited, timeout))
            sleep(decision.wait_seconds)

    def pause(self, bucket: str, seconds: float) -> float:
        """Stop every caller of the bucket for ``seconds`` (e.g. a 429's Retry-After).
        Returns when the pause ends (Redis clock, epoch seconds). An earlier, longer
        pause is kept."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"pause seconds must be a finite number >= 0, got {seconds!r}")
        until_us = self._pause(keys=[self.keys.ratelimit(bucket)], args=[math.ceil(seconds * 1e6)])
        return int(until_us) / 1e6

    def paused_until(self, bucket: str) -> float | None:
        """When the bucket's pause ends (Redis clock), or None if it is not paused."""
        raw = self.client.hget(self.keys.ratelimit(bucket), "paused_until")
        if not raw:
            return None
        seconds, micros = self.client.time()
        until = int(raw) / 1e6
        return until if until > seconds + micros / 1e6 else None
