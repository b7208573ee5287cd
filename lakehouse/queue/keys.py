"""Every Redis key the framework uses, in one place, under one prefix.

Why one module: the queue, the rate limiter, the CLI and the Lua scripts must agree
on names byte for byte, and an operator debugging with ``redis-cli`` needs one page
that lists what lives where. Nothing else in the code base spells a key by hand.

With the default prefix ``scrapworker``:

========================================  =========  ===============================================
key                                       type       holds
========================================  =========  ===============================================
``scrapworker:jobs``                      list       ready job payloads (JSON); producers push right,
                                                     workers take from the left (the original design's
                                                     queue name, kept so existing producers still fit)
``scrapworker:leased``                    zset       run_id -> lease expiry (ms, Redis server clock)
``scrapworker:dead``                      list       dead letters (JSON: payload, reason, time), newest
                                                     first, capped
``scrapworker:lease_seq``                 string     counter handing out lease ids (fencing tokens),
                                                     never below the server clock in ms
``scrapworker:runs``                      zset       run_id -> last change (s); index for listings
``scrapworker:job:<run_id>``              hash       one run's status and bookkeeping (payload,
                                                     state, attempts, lease id, counts, manifest);
                                                     expires some days after a terminal state
``scrapworker:workers``                   zset       worker_id -> last seen (s, server clock): set by
                                                     every lease, heartbeat and ack; entries older
                                                     than a day are dropped. Waiters use it to tell
                                                     "no worker is running" from "the queue is busy"
``scrapworker:status``                     channel    pub/sub: ``{"run_id": ..., "state": ...}`` on
                                                     every terminal state (finished, failed, dead),
                                                     published by the script that writes it. Not
                                                     durable: the run's hash stays the truth
``scrapworker:ratelimit:<bucket>``        hash       a token bucket (GCRA ``tat``, ``paused_until``)
========================================  =========  ===============================================

All keys of one prefix must live on one Redis server: the Lua scripts derive
``job:<run_id>`` names at run time, which Redis Cluster would not route.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PREFIX = "scrapworker"

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-{}]+$")


@dataclass(frozen=True)
class Keys:
    """Key names for one prefix (tests use their own prefix to stay isolated)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not _PREFIX_RE.match(self.prefix):
            raise ValueError(
                f"Redis key prefix {self.prefix!r} must be non-empty and use only letters, "
                "digits, '_', '-', '.', '{' or '}' (it is joined to names with ':')"
            )

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @property
    def jobs(self) -> str:
        return self._k("jobs")

    @property
    def leased(self) -> str:
        return self._k("leased")

    @property
    def dead(self) -> str:
        return self._k("dead")

    @property
    def lease_seq(self) -> str:
        return self._k("lease_seq")

    @property
    def runs(self) -> str:
        return self._k("runs")

    @property
    def workers(self) -> str:
        return self._k("workers")

    @property
    def status_channel(self) -> str:
        """Pub/sub channel announcing terminal states (not a key: nothing is stored)."""
        return self._k("status")

    @property
    def job_prefix(self) -> str:
        """What the Lua scripts prepend to a run_id to find its hash."""
        return self._k("job", "")

    def job(self, run_id: str) -> str:
        return self.job_prefix + run_id

    def ratelimit(self, bucket: str) -> str:
        return self._k("ratelimit", bucket)
