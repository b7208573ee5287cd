"""Contract test of the pyspark private API behind lakehouse/engines/pyspark_session.py.

Fails on a pyspark upgrade that changes RemoteSparkSession._set_default_and_active_session,
with a message naming the pinned version, before any session factory meets it."""

from __future__ import annotations

import pytest

from lakehouse.engines import pyspark_session
from lakehouse.engines.private_api import PrivateApiChangedError, installed_version, pinned_version

pytestmark = pytest.mark.unit


def test_the_pinned_pyspark_has_the_private_api_the_session_factories_call():
    try:
        pyspark_session.SET_DEFAULT_AND_ACTIVE_SESSION.resolve()
    except PrivateApiChangedError as exc:
        pytest.fail(str(exc))
    assert installed_version("pyspark") == pinned_version("pyspark"), (
        f"pyspark {installed_version('pyspark')} is installed, {pinned_version('pyspark')} pinned: "
        "re-check lakehouse/engines/pyspark_session.py against the new version"
    )


def test_make_active_registers_the_session_as_default_and_active(monkeypatch):
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    registered = []
    monkeypatch.setattr(
        RemoteSparkSession,
        "_set_default_and_active_session",
        classmethod(lambda cls, session: registered.append(session)),
    )
    pyspark_session._private.cache_clear()
    try:
        session = object()
        pyspark_session.make_active(session)
        assert registered == [session]
    finally:
        pyspark_session._private.cache_clear()
