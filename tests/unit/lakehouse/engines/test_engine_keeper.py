"""The profile chooses how the transform engine is kept answering in one place
(lakehouse.engines.engine.engine_keeper): only the local profile's own Connect server is
(re)started by the stack; compose, a remote server or spark-submit are the platform's."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config.settings import Settings, load_settings
from lakehouse.engines.engine import LocalConnectKeeper, PlatformKeeper, engine_keeper

pytestmark = pytest.mark.unit


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_LOCAL__STATE_DIR", str(tmp_path / "state"))


def _settings(**spark: object) -> Settings:
    return load_settings("local", spark=spark) if spark else load_settings("local")


@pytest.mark.usefixtures("state")
def test_the_local_stacks_own_connect_server_is_kept_by_the_stack() -> None:
    settings = _settings()
    keeper = engine_keeper(settings)
    assert isinstance(keeper, LocalConnectKeeper)
    assert keeper.settings is settings


@pytest.mark.usefixtures("state")
@pytest.mark.parametrize(
    "spark",
    [
        {"engine": "submit"},  # spark-submit needs no server
        {"connect_url": "sc://spark.example.com:15002"},  # a server run elsewhere
        {"connect_url": "sc://localhost:1"},  # loopback, but not the stack's port
    ],
)
def test_any_other_engine_is_kept_by_its_platform(spark: dict[str, object]) -> None:
    keeper = engine_keeper(_settings(**spark))
    assert isinstance(keeper, PlatformKeeper)
    keeper.ensure()  # does nothing, starts nothing
