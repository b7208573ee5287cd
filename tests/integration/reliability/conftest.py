"""Fixtures for the reliability suite (issue 12): the worker tests' fixtures
(tests/integration/scrapworker/worker_fixtures.py: sandbox, endpoint configs, worker
subprocesses, a per-test Redis prefix) on the shared stack.

``LAKEHOUSE_RELIABILITY_LONG=1`` selects the long forms (more cases, bigger pages).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scrapworker"))

from worker_fixtures import endpoints, make_sandbox, prefix, queue, s3, start_worker  # noqa: E402

__all__ = ["endpoints", "make_sandbox", "prefix", "queue", "s3", "start_worker"]

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"
