"""Compose refuses to start with a missing, placeholder or short secret: the one-shot
`secrets-check` (lakehouse/ops/secrets_check.py) gets every secret of .env.example and every
other service waits for it to succeed."""

from __future__ import annotations

from typing import Any

import pytest
from deployfiles import ENV_EXAMPLE, parse_env_example

from lakehouse.ops.secrets_check import SECRETS, main, problems


def test_it_checks_exactly_the_secrets_of_the_env_example() -> None:
    assert set(SECRETS) == set(parse_env_example(ENV_EXAMPLE.read_text()).required)


def test_the_env_example_as_copied_is_refused_naming_each_variable() -> None:
    example = parse_env_example(ENV_EXAMPLE.read_text()).required
    found = problems(example)
    assert len(found) == len(SECRETS)
    for name in SECRETS:
        assert any(line.startswith(f"{name} is still the placeholder") for line in found), name


def test_missing_and_short_secrets_are_refused_without_showing_the_value() -> None:
    env = {name: "x" * max(40, shortest) for name, shortest in SECRETS.items()}
    assert problems(env) == []
    env["AIRFLOW_JWT_SECRET"] = "short-secret-v1"  # 15 characters
    del env["JUPYTER_TOKEN"]
    found = problems(env)
    assert found == [
        "AIRFLOW_JWT_SECRET is 15 characters; use at least 16 (openssl rand -hex 24)",
        "JUPYTER_TOKEN is not set: put a generated value in .env (openssl rand -hex 24)",
    ]
    assert not any("short-secret-v1" in line for line in found)
    # The catalog's pair is made by `lakehouse catalog keygen`, and a stray hex token is too short.
    env["JUPYTER_TOKEN"] = "x" * 40
    env["LAKEHOUSE_CATALOG__TOKEN"] = "0" * 48
    assert (
        "LAKEHOUSE_CATALOG__TOKEN is 48 characters; use at least 100 (`lakehouse catalog keygen` (docs/deploy.md))"
        in problems(env)
    )


def test_the_one_shot_exits_1_on_a_problem_and_0_when_every_secret_is_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, shortest in SECRETS.items():
        monkeypatch.setenv(name, "x" * max(40, shortest))
    assert main([]) == 0
    assert f"{len(SECRETS)} secrets set" in capsys.readouterr().out
    monkeypatch.delenv("JUPYTER_TOKEN")
    assert main([]) == 1
    assert "JUPYTER_TOKEN is not set" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_compose_passes_every_secret_to_the_check(services: dict[str, dict[str, Any]]) -> None:
    check = services["secrets-check"]
    assert check["command"] == ["python", "-m", "lakehouse.ops.secrets_check"]
    assert check["restart"] == "no"
    assert set(check["environment"]) == set(SECRETS)


def test_every_other_service_waits_for_the_check(services: dict[str, dict[str, Any]]) -> None:
    waiting = {
        name: (service.get("depends_on") or {}).get("secrets-check", {}).get("condition")
        for name, service in services.items()
        if name != "secrets-check"
    }
    assert waiting and all(c == "service_completed_successfully" for c in waiting.values()), waiting
