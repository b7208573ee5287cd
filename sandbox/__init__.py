"""A deterministic stand-in for an upstream market API, for tests, the demo and benchmarks.

It plays the *upstream* (rate limits, faults, every pagination style); it never
stands in for any part of our own stack. Run it with ``python -m sandbox``, or in
process with ``SandboxServer(SandboxOptions(...)).start()``.
"""

from sandbox.app import SandboxApp, SandboxOptions
from sandbox.faults import FaultRates
from sandbox.market import MarketConfig, Trade, expected_records
from sandbox.oauth2 import OAuth2Options
from sandbox.server import SandboxServer, fetch_stats, reset
from sandbox.stats import SandboxStats

__all__ = [
    "FaultRates",
    "MarketConfig",
    "OAuth2Options",
    "SandboxApp",
    "SandboxOptions",
    "SandboxServer",
    "SandboxStats",
    "Trade",
    "expected_records",
    "fetch_stats",
    "reset",
]
