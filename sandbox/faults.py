"""Injected faults, chosen deterministically per (path, query, attempt number).

The n-th identical request (same path and query, auth stripped) always gets the same
fate for a given seed, so a failing run replays exactly; a retry is a new attempt
number and rolls again, so retries can succeed. After ``max_faults_per_request``
faulted attempts of one request it is always served cleanly, which bounds how many
retries a crawler needs (set it high to test giving up).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum


class Fault(Enum):
    NONE = "none"
    SERVER_ERROR = "5xx"
    TRUNCATED = "truncated"
    SLOW = "slow"


SERVER_ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class FaultRates:
    fail_rate: float = 0.0
    truncate_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    max_faults_per_request: int = 3

    def __post_init__(self) -> None:
        for name in ("fail_rate", "truncate_rate", "slow_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.fail_rate + self.truncate_rate + self.slow_rate > 1.0:
            raise ValueError("fail_rate + truncate_rate + slow_rate must not exceed 1")
        if self.slow_seconds < 0 or self.max_faults_per_request < 0:
            raise ValueError("slow_seconds and max_faults_per_request must not be negative")


def _roll(seed: int, request_key: str, attempt: int) -> tuple[float, int]:
    digest = hashlib.blake2b(f"{seed}|{request_key}|{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest[:7], "big") / float(1 << 56), digest[7]


def choose(rates: FaultRates, seed: int, request_key: str, attempt: int, faults_so_far: int) -> tuple[Fault, int]:
    """The fault for this attempt and, for SERVER_ERROR, the status to answer with."""
    if faults_so_far >= rates.max_faults_per_request:
        return Fault.NONE, 200
    draw, extra = _roll(seed, request_key, attempt)
    if draw < rates.fail_rate:
        return Fault.SERVER_ERROR, SERVER_ERROR_STATUSES[extra % len(SERVER_ERROR_STATUSES)]
    if draw < rates.fail_rate + rates.truncate_rate:
        return Fault.TRUNCATED, 200
    if draw < rates.fail_rate + rates.truncate_rate + rates.slow_rate:
        return Fault.SLOW, 200
    return Fault.NONE, 200
