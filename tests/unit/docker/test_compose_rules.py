"""The Compose file validates against the Compose Specification and keeps the
deployment's rules: pinned images, healthchecks, ordered start-up, loopback ports, and
secrets that must be set rather than defaulted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from deployfiles import (
    COMPOSE_FILE,
    DOCKER_DIR,
    ROOT,
    MissingVariableError,
    environment_of,
    interpolate,
    is_one_shot,
    variable_uses,
)

# The Compose Specification's JSON schema, vendored (see compose-spec.README.md).
SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())


def compose_files() -> list[Path]:
    return sorted(p for p in DOCKER_DIR.glob("*.y*ml") if "compose" in p.name)


def test_there_is_a_compose_file() -> None:
    assert COMPOSE_FILE in compose_files()


@pytest.mark.parametrize("path", compose_files(), ids=lambda p: p.name)
def test_compose_file_validates_against_the_compose_spec(path: Path, example_env: dict[str, str]) -> None:
    document = interpolate(yaml.safe_load(path.read_text()), example_env)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors)


def test_the_schema_check_rejects_an_invalid_file(compose: dict[str, Any]) -> None:
    # Guards the guard: a vendored schema that accepted anything would pass silently.
    broken = json.loads(json.dumps(compose))
    broken["services"]["nessie"]["depends_on"]["nessie-postgres"]["condition"] = "service_ready"
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(broken))


def _tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def test_every_image_is_pinned_to_a_version_tag(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: name its image (with a version tag), even when it is built here"
        tag = _tag(image)
        assert tag and tag != "latest" and re.search(r"\d", tag), (
            f"{name}: image {image!r} is not pinned to a version tag"
        )


def test_images_built_here_are_tagged_with_the_project_version(services: dict[str, dict[str, Any]]) -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in services.items():
        if "build" in service:
            assert _tag(service["image"]) == version, (
                f"{name}: built images default to the package version {version}, got {service['image']}"
            )


def test_every_service_declares_a_restart_policy(services: dict[str, dict[str, Any]]) -> None:
    # `restart: "no"` is how a one-shot is told apart from a long-running service.
    for name, service in services.items():
        assert "restart" in service, f"{name}: set restart ('no' for a one-shot, else unless-stopped)"


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if is_one_shot(service):
            continue
        check = service.get("healthcheck") or {}
        test = check.get("test")
        assert test and not check.get("disable"), f"{name}: long-running without a healthcheck"
        if isinstance(test, list):
            assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test {test[0]!r} checks nothing"


def test_depends_on_waits_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: use the long depends_on form with a condition"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on {target}, which is not a service"
            expected = "service_completed_successfully" if is_one_shot(services[target]) else "service_healthy"
            assert spec.get("condition") == expected, (
                f"{name} -> {target}: condition must be {expected}, got {spec.get('condition')}"
            )


def test_one_shots_are_awaited_by_someone(services: dict[str, dict[str, Any]]) -> None:
    awaited = {t for s in services.values() for t in (s.get("depends_on") or {})}
    for name, service in services.items():
        if is_one_shot(service):
            assert name in awaited, f"{name} is a one-shot nothing waits for"


def test_host_ports_bind_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1" and port.get("published"), f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:") and str(port).count(":") == 2, (
                    f"{name}: port {port!r} must be 127.0.0.1:<host>:<container>"
                )


def test_host_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host_port = str(port).split(":")[1]
            assert host_port not in seen, f"host port {host_port}: {seen.get(host_port)} and {name}"
            seen[host_port] = name


def test_scaled_services_publish_no_host_port(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "replicas" in (service.get("deploy") or {}):
            assert not service.get("ports"), f"{name}: replicas would fight over the same host port"


def test_replicas_are_configurable(raw_compose: dict[str, Any]) -> None:
    expected = {
        "scrapworker": "SCRAPWORKER_REPLICAS",
        "spark-worker": "SPARK_WORKER_REPLICAS",
        "airflow-worker": "AIRFLOW_WORKER_REPLICAS",
    }
    for service, variable in expected.items():
        replicas = str(raw_compose["services"][service]["deploy"]["replicas"])
        assert [u.name for u in variable_uses(replicas)] == [variable], f"{service}: {replicas}"


def test_all_services_share_one_network(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert "network_mode" not in service and "networks" not in service, (
            f"{name}: every service stays on the project's default network, where service names resolve"
        )


def test_missing_secret_stops_compose(raw_compose: dict[str, Any], example_env: dict[str, str]) -> None:
    for secret in example_env:
        env = {k: v for k, v in example_env.items() if k != secret}
        with pytest.raises(MissingVariableError, match=secret):
            interpolate(raw_compose, env)


def test_secrets_have_no_default(raw_compose_text: str, env_example) -> None:
    for use in variable_uses(raw_compose_text):
        if use.name in env_example.required:
            assert use.op == ":?", f"${{{use.name}}} is a secret: write ${{{use.name}:?set {use.name} in .env}}"


def test_env_example_documents_every_variable(raw_compose_text: str, env_example) -> None:
    documented = set(env_example.required) | set(env_example.optional)
    for use in variable_uses(raw_compose_text):
        assert use.name in documented, f"{use.name} is used in compose.yaml but not in .env.example"
        if use.op == ":-":
            assert env_example.optional.get(use.name) == use.arg, (
                f".env.example shows {use.name}={env_example.optional.get(use.name)!r}, "
                f"compose.yaml defaults it to {use.arg!r}"
            )
        if use.op == ":?":
            assert use.name in env_example.required, f"{use.name} is required: list it uncommented"


def test_env_example_lists_nothing_stale(raw_compose_text: str, env_example) -> None:
    used = {u.name for u in variable_uses(raw_compose_text)}
    for name in set(env_example.required) | set(env_example.optional):
        assert name in used, f".env.example documents {name}, which compose.yaml does not use"


def test_env_example_values_are_placeholders(env_example) -> None:
    for name, value in env_example.required.items():
        assert value == "change-me", f".env.example: {name} must be the placeholder change-me"


def test_secret_named_environment_values_are_interpolated(raw_compose: dict[str, Any]) -> None:
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|ACCESS_KEY|AUTH|\.secret$|\.name$|CONN", re.I)
    for name, service in raw_compose["services"].items():
        for key, value in environment_of(service).items():
            if not secretish.search(key) or key == "AIRFLOW__CORE__AUTH_MANAGER":
                continue
            if value.startswith("urn:nessie-secret:"):
                continue  # a reference to a secret, not one
            if key.endswith(".enabled") and value in ("true", "false"):
                continue  # a switch (nessie.server.authentication.enabled), not a secret
            if key == "AIRFLOW_CONN_SPARK_DEFAULT":
                assert "@" not in value and "password" not in value, f"{name}: {key} carries credentials"
                continue
            assert any(u.op == ":?" for u in variable_uses(value)), (
                f"{name}: {key} must come from a required variable in .env, not a literal"
            )


def test_built_services_have_their_build_context_at_the_repo_root(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            build = service["build"]
            assert (DOCKER_DIR / build["context"]).resolve() == ROOT, name
            assert (DOCKER_DIR / build["context"] / build["dockerfile"]).resolve() == DOCKER_DIR / "Dockerfile"


# Bind-mount sources that docs/deploy.md has the operator create before the first start.
CREATED_AT_DEPLOY = {"../notebooks"}


def test_bind_mount_sources_exist(services: dict[str, dict[str, Any]]) -> None:
    named = set(yaml.safe_load(COMPOSE_FILE.read_text()).get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if source in named:
                continue
            if source in CREATED_AT_DEPLOY:
                assert f"mkdir -p {source.removeprefix('../')}" in (ROOT / "docs" / "deploy.md").read_text()
                continue
            assert (DOCKER_DIR / source).exists(), f"{name}: bind mount source {source} does not exist"
