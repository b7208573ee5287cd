"""Fixtures for worker tests: the shared worker fixtures (worker_fixtures.py, also
used by the reliability suite)."""

from __future__ import annotations

from worker_fixtures import endpoints, make_sandbox, prefix, queue, s3, start_worker

__all__ = ["endpoints", "make_sandbox", "prefix", "queue", "s3", "start_worker"]
