"""The shared token bucket against a real redis-server, with several processes.

Grant times are the Redis server's own timestamps returned with each grant, so the
window check measures exactly what the limiter promises, with no client-side clock
jitter to make it flaky. Speed is asserted with generous bounds only."""

from __future__ import annotations

import multiprocessing
import time
from itertools import pairwise

import pytest
import redis

from lakehouse.config.settings import load_settings
from lakehouse.errors import RateLimitTimeoutError
from lakehouse.queue.ratelimit import RateLimiter

pytestmark = pytest.mark.integration


def _max_in_any_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of grants in any half-open window [t, t+window).
    Checking windows that start at a grant suffices: sliding a window's start
    forward to its first grant never loses a grant."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


def _hammer(
    port: int,
    prefix: str,
    bucket: str,
    rate: float,
    burst: int,
    seconds: float,
    go: multiprocessing.synchronize.Event,
    out: multiprocessing.Queue[list[float]],
) -> None:
    limiter = RateLimiter(load_settings().redis.model_copy(update={"port": port}).client(), prefix)
    go.wait(30)
    grants: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        decision = limiter.try_acquire(bucket, rate, burst)
        if decision.granted:
            grants.append(decision.server_time)
        else:
            time.sleep(decision.wait_seconds)
    out.put(grants)


def _run_processes(
    redis_settings, prefix: str, bucket: str, rate: float, burst: int, seconds: float, n: int = 3
) -> list[list[float]]:
    ctx = multiprocessing.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_hammer, args=(redis_settings.redis.port, prefix, bucket, rate, burst, seconds, go, out))
        for _ in range(n)
    ]
    for p in procs:
        p.start()
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


def test_three_processes_stay_within_r_per_second_and_use_it(redis_settings, prefix: str) -> None:
    rate = 20
    per_process = _run_processes(redis_settings, prefix, "sandbox_trades", rate, 1, seconds=3.0)
    grants = sorted(t for g in per_process for t in g)

    assert _max_in_any_window(grants) <= rate
    gaps = [b - a for a, b in pairwise(grants)]
    assert min(gaps) >= 1 / rate - 1e-6  # burst=1: never closer than the steady spacing
    assert all(len(g) > 0 for g in per_process)  # every process got its share of slots
    # Close to R overall; the bound is generous so a loaded machine does not flake.
    achieved = (len(grants) - 1) / (grants[-1] - grants[0])
    assert achieved >= 0.7 * rate, f"only {achieved:.1f}/s of {rate}/s"


def test_window_check_would_catch_an_overrun() -> None:
    # The checker itself must be able to fail: 21 grants spaced 1/21 s is an overrun.
    assert _max_in_any_window([i / 21 for i in range(21)]) == 21
    assert _max_in_any_window([i / 20 for i in range(40)]) == 20


def test_fractional_rates_round_the_spacing_up(limiter: RateLimiter) -> None:
    # 3/s cannot be spaced exactly in microseconds; rounding down would let a 4th
    # grant into some 1-second window over a long run.
    grants = []
    deadline = time.monotonic() + 2.2
    while time.monotonic() < deadline:
        d = limiter.try_acquire("frac", 3)
        if d.granted:
            grants.append(d.server_time)
        else:
            time.sleep(d.wait_seconds)
    assert len(grants) >= 5
    assert all(b - a >= 1 / 3 - 1e-6 for a, b in pairwise(grants))
    assert _max_in_any_window(grants) <= 3


def test_burst_allows_b_at_once_then_the_steady_rate(limiter: RateLimiter) -> None:
    decisions = [limiter.try_acquire("bursty", rate=2, burst=5) for _ in range(6)]
    assert [d.granted for d in decisions] == [True] * 5 + [False]
    assert 0.3 < decisions[5].wait_seconds <= 0.5
    assert limiter.acquire("other_bucket", rate=2, burst=1) == 0  # buckets are independent


def test_pause_blocks_every_process_until_it_ends(redis_settings, prefix: str, limiter: RateLimiter) -> None:
    until = limiter.pause("sandbox_trades", 1.0)
    assert limiter.paused_until("sandbox_trades") == pytest.approx(until)
    # A shorter pause (a second 429 with a smaller Retry-After) must not cut it short.
    assert limiter.pause("sandbox_trades", 0.1) == pytest.approx(until)
    assert limiter.acquire("sandbox_trades", 20) > 0.5

    per_process = _run_processes(redis_settings, prefix, "sandbox_trades", 20, 1, seconds=1.8)
    grants = sorted(t for g in per_process for t in g)
    assert grants, "nobody was granted after the pause ended"
    assert grants[0] >= until
    assert _max_in_any_window(grants) <= 20
    assert limiter.paused_until("sandbox_trades") is None


def test_acquire_blocking_waits_and_times_out(limiter: RateLimiter) -> None:
    first = limiter.acquire_blocking("b", rate=5)
    second = limiter.acquire_blocking("b", rate=5, timeout=5)
    assert second.server_time - first.server_time >= 0.2 - 1e-6
    limiter.pause("b", 30)
    started = time.monotonic()
    with pytest.raises(RateLimitTimeoutError, match="'b'"):
        limiter.acquire_blocking("b", rate=5, timeout=0.5)
    assert time.monotonic() - started < 5  # it gives up instead of sleeping 30 s


def _late_client(
    limiter: RateLimiter, bucket: str, rate: float, slack: float, late: float, seconds: float
) -> list[float]:
    """A caller that always wakes `late` seconds after it was told to (a busy reactor)."""
    grants: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        d = limiter.try_acquire(bucket, rate, 1, slack)
        if d.granted:
            grants.append(d.server_time)
        else:
            time.sleep(d.wait_seconds + late)
    return grants


def test_slack_keeps_a_late_caller_at_the_full_rate_and_the_window_bound(limiter: RateLimiter) -> None:
    limit, headroom, slack, late = 20, 0.05, 0.015, 0.010
    rate = limit * (1 - headroom)  # what the worker asks for: 19/s
    achieved = {}
    for name, s in (("no-slack", 0.0), ("slack", slack)):
        grants = _late_client(limiter, f"late-{name}", rate, s, late, seconds=2.5)
        achieved[name] = (len(grants) - 1) / (grants[-1] - grants[0])
        gaps = [b - a for a, b in pairwise(grants)]
        # k consecutive grants are never closer than k·T - slack ...
        for k in (1, 5, 19):
            spans = [grants[i + k] - grants[i] for i in range(len(grants) - k)]
            assert min(spans) >= k / rate - s - 1e-5, (name, k, min(spans))
        # ... so the headroom's margin (1/0.95 - 1 s = 52 ms) still holds the window.
        assert _max_in_any_window(grants) <= limit
        assert gaps
    # Without slack every wake-up delay is lost (spacing >= T + 10 ms, <= 16.1/s);
    # with it the schedule holds and the caller gets its full 19/s.
    assert achieved["no-slack"] <= 1 / (1 / rate + late) + 0.1
    assert achieved["slack"] >= 0.97 * rate, achieved


def test_slack_must_stay_below_the_interval(limiter: RateLimiter) -> None:
    with pytest.raises(ValueError, match="slack"):
        limiter.acquire("x", 10, 1, slack=0.1)
    with pytest.raises(ValueError, match="slack"):
        limiter.acquire("x", 10, 1, slack=-0.001)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("inf"), 1), (5, 0), (5, 1.5)])
def test_invalid_limits_are_refused(limiter: RateLimiter, rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        limiter.acquire("x", rate, burst)


def test_idle_buckets_expire(limiter: RateLimiter, redis_client: redis.Redis) -> None:
    limiter.acquire("idle", rate=10)
    ttl_ms = redis_client.pttl(limiter.keys.ratelimit("idle"))
    assert 0 < ttl_ms <= 1200
