"""pyspark's private "make this Connect session the active one": the one adapter to it.

Why not the public API: ``SparkSession.builder.remote(url).getOrCreate()`` builds the
session and makes it the default and active one, but only from a URL; the session
factories here build a Connect session on a channel of their own (a channel builder
carrying the engine's token, retry policies, a subclass whose stop() releases the
server-side session), and pyspark 4.1 has no public call that registers a session
built that way. Without it, functions and DataFrames created afterwards
(``F.col``, ``spark.createDataFrame`` in helpers that look the session up) would not
find it. So the two factories (lakehouse/analyst.py, spark_jobs/session.py) call the
private classmethod the builder calls, through this module only, gated on the
signature it had at the pinned version. pyspark is imported inside functions: the
core imports no engine at import time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from lakehouse.engines.private_api import PrivateApi

SET_DEFAULT_AND_ACTIVE_SESSION = PrivateApi(
    "pyspark",
    "pyspark.sql.connect.session",
    "SparkSession._set_default_and_active_session",
    ("session",),
    __name__,
)


@functools.cache
def _private() -> Callable[..., Any]:
    return SET_DEFAULT_AND_ACTIVE_SESSION.resolve()


def check() -> None:
    """Raise PrivateApiChangedError now if the installed pyspark changed the classmethod."""
    _private()


def make_active(session: Any) -> None:
    """Make a Connect session built on its own channel the default and active one."""
    _private()(session=session)
