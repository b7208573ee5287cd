"""What the sandbox saw: request counts, statuses, faults and per-second peaks.

Crawler tests read these (``GET /_stats``) to assert "zero 429s", "never more than R
in any second" and "every record served"; ``SandboxStats`` is the shape on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from sandbox.oauth2 import TOKEN_PATH


class RequestRecord(BaseModel):
    time: float  # wall clock, epoch seconds, at arrival
    path: str
    status: int
    fault: str
    records: int
    admitted: bool  # passed auth and the rate limit


class SandboxStats(BaseModel):
    total_requests: int
    per_path: dict[str, int]
    per_status: dict[str, int]
    ok: int  # complete 200 responses (truncated ones are not counted)
    rate_limited: int  # 429
    server_errors: int  # injected 5xx
    truncated: int
    slow: int
    unauthorized: int
    records_served: int  # records in complete 200 responses
    # Peaks over any 1-second interval (sliding): all API requests, and those the
    # limiter admitted. A polite crawler keeps the first at or under the limit.
    max_requests_in_any_second: int
    max_admitted_in_any_second: int
    # Requests per wall-clock second, keyed by the integer epoch second.
    per_second: dict[int, int]
    # The OAuth2 token endpoint (sandbox.oauth2): requests, and tokens it issued.
    token_requests: int = 0
    tokens_issued: int = 0
    requests: list[RequestRecord] | None = None


def max_in_any_second(times: list[float]) -> int:
    ordered = sorted(times)
    best = 0
    left = 0
    for right, moment in enumerate(ordered):
        while moment - ordered[left] >= 1.0:
            left += 1
        best = max(best, right - left + 1)
    return best


@dataclass
class _Entry:
    time: float
    path: str
    status: int
    fault: str
    records: int
    admitted: bool


class StatsRecorder:
    """Not thread-safe on its own: the app calls it under its lock."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def record(self, time: float, path: str, status: int, fault: str, records: int, admitted: bool) -> None:
        self._entries.append(_Entry(time, path, status, fault, records, admitted))

    def snapshot(self, detail: bool = False) -> SandboxStats:
        entries = list(self._entries)
        per_path: dict[str, int] = {}
        per_status: dict[str, int] = {}
        per_second: dict[int, int] = {}
        for entry in entries:
            per_path[entry.path] = per_path.get(entry.path, 0) + 1
            per_status[str(entry.status)] = per_status.get(str(entry.status), 0) + 1
            per_second[int(entry.time)] = per_second.get(int(entry.time), 0) + 1
        complete = [e for e in entries if e.status == 200 and e.fault != "truncated"]
        return SandboxStats(
            total_requests=len(entries),
            per_path=per_path,
            per_status=per_status,
            ok=len(complete),
            rate_limited=per_status.get("429", 0),
            server_errors=sum(1 for e in entries if e.fault == "5xx"),
            truncated=sum(1 for e in entries if e.fault == "truncated"),
            slow=sum(1 for e in entries if e.fault == "slow"),
            unauthorized=per_status.get("401", 0),
            records_served=sum(e.records for e in complete),
            max_requests_in_any_second=max_in_any_second([e.time for e in entries]),
            max_admitted_in_any_second=max_in_any_second([e.time for e in entries if e.admitted]),
            per_second=per_second,
            token_requests=per_path.get(TOKEN_PATH, 0),
            tokens_issued=sum(1 for e in entries if e.path == TOKEN_PATH and e.status == 200),
            requests=[RequestRecord(**vars(e)) for e in entries] if detail else None,
        )
