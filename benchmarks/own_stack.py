"""A throwaway local stack on free ports for one benchmark run (``--own-stack``).

Shared by the benchmark scripts so each measures against the same kind of stack the
tests use (tests/conftest.py's ports and state layout) and cleans it up the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from lakehouse.config.settings import load_settings
from lakehouse.local.stack import LocalStack, services_with
from tests.conftest import stack_env


@contextmanager
def own_stack(state_dir: Path, extras: Sequence[str] = ()) -> Iterator[LocalStack]:
    """Exports the stack's LAKEHOUSE_* settings to this process (and the workers and
    spark-submits it starts), brings the core services plus ``extras`` up, and always
    takes them down again."""
    env = stack_env(state_dir)  # free ports, the Spark Connect server's included
    os.environ.update(env)
    stack = LocalStack(load_settings(), services=services_with(list(extras)))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
