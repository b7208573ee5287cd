"""Fixtures for the deployment tests; the readers live in deployfiles.py."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml
from deployfiles import (
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    ROOT,
    Dockerfile,
    EnvExample,
    interpolate,
    parse_dockerfile,
    parse_env_example,
)


@pytest.fixture(scope="session")
def raw_compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="session")
def raw_compose(raw_compose_text: str) -> dict[str, Any]:
    return yaml.safe_load(raw_compose_text)


@pytest.fixture(scope="session")
def env_example() -> EnvExample:
    return parse_env_example(ENV_EXAMPLE.read_text())


@pytest.fixture(scope="session")
def example_env(env_example: EnvExample) -> dict[str, str]:
    """What `docker compose --env-file .env` would see for a .env copied from the example."""
    return dict(env_example.required)


@pytest.fixture(scope="session")
def compose(raw_compose: dict[str, Any], example_env: dict[str, str]) -> dict[str, Any]:
    return interpolate(raw_compose, example_env)


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="session")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture
def docker_settings(monkeypatch: pytest.MonkeyPatch):
    """The docker profile as containers load it, without this machine's overrides."""
    from lakehouse.config.settings import load_settings

    for name in list(os.environ):
        if name.startswith("LAKEHOUSE_"):
            monkeypatch.delenv(name)
    # This checkout's profile, wherever LAKEHOUSE_HOME pointed when lakehouse was imported.
    monkeypatch.setenv("LAKEHOUSE_CONFIG_DIR", str(ROOT / "config"))
    return load_settings("docker")
