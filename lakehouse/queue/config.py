"""Queue tunables as a settings section (kept free of the redis import so the
settings module can embed it without slowing CLI start-up)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from lakehouse.queue.keys import DEFAULT_PREFIX


class QueueSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(DEFAULT_PREFIX, pattern=r"^[A-Za-z0-9_.\-{}]+$")
    # Long enough for Airflow to poll a finished run after a scheduler outage or a
    # long weekend; the raw landing's manifest stays the durable record after that.
    status_ttl_seconds: int = Field(7 * 24 * 3600, ge=60)
    # A worker heartbeats well inside this; a kill -9 costs at most this much delay.
    lease_seconds: float = Field(60.0, gt=0)
    heartbeat_seconds: float = Field(15.0, gt=0)
    default_max_attempts: int = Field(3, ge=1, le=100)
    # Dead letters are kept until retried; the cap keeps a runaway producer from
    # filling Redis memory.
    dead_letter_cap: int = Field(10_000, ge=10)
    # Waiters (Airflow's deferred wait_for_crawl) give up on a run that stays queued or
    # running with no update while no worker has leased, heartbeated or acked for this
    # long. A busy worker heartbeats every heartbeat_seconds and an idle one leases
    # about twice a second, so keep it well above heartbeat_seconds.
    no_worker_seconds: float = Field(60.0, gt=0)
    # Waiters wake on the status channel, and re-read the run's hash at least this
    # often anyway: pub/sub is not durable, the hash is the truth.
    status_recheck_seconds: float = Field(2.0, gt=0)
