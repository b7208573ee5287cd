"""Settings: profile files, environment overrides, secrets handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import paths
from lakehouse.config.settings import load_settings
from lakehouse.errors import MissingSecretError, SettingsError, UnknownProfileError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("LAKEHOUSE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LAKEHOUSE_LOCAL__STATE_DIR", str(tmp_path / "state"))


def test_local_profile_defaults_point_at_loopback() -> None:
    s = load_settings()
    assert s.profile == "local"
    assert s.redis.host == "127.0.0.1"
    assert s.s3.endpoint_url.startswith("http://127.0.0.1:")
    assert s.catalog.rest_uri == "http://127.0.0.1:19120/iceberg/main"


def test_docker_profile_uses_service_names() -> None:
    s = load_settings("docker")
    assert s.redis.host == "scrapredis"
    assert s.catalog.uri == "http://nessie:19120/iceberg"


def test_environment_overrides_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_REDIS__PORT", "26379")
    monkeypatch.setenv("LAKEHOUSE_CATALOG__BRANCH", "dev")
    s = load_settings()
    assert s.redis.port == 26379
    assert s.catalog.rest_uri.endswith("/iceberg/dev")
    assert s.s3.bucket == "warehouse"  # untouched values still come from the profile


def test_profile_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "docker")
    assert load_settings().profile == "docker"


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(UnknownProfileError, match=r"unknown profile 'prod'.*available: docker, local"):
        load_settings("prod")


def test_bad_value_names_the_field_and_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_REDIS__PORT", "not-a-port")
    with pytest.raises(SettingsError, match=r"redis\.port: .*LAKEHOUSE_REDIS__PORT"):
        load_settings()


def test_secret_in_a_profile_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "leaky.yaml").write_text("s3:\n  secret_access_key: hunter2\n")
    monkeypatch.setenv("LAKEHOUSE_CONFIG_DIR", str(tmp_path))
    with pytest.raises(SettingsError, match="secret and may not be written in a profile"):
        load_settings("leaky")


def test_secrets_come_from_env_and_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_S3__ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("LAKEHOUSE_S3__SECRET_ACCESS_KEY", "very-secret-value")
    s = load_settings()
    assert s.s3.require_credentials() == ("AKIAEXAMPLE", "very-secret-value")
    assert "very-secret-value" not in repr(s)
    assert "very-secret-value" not in str(s.redacted())


def test_secrets_come_from_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    (secrets / "LAKEHOUSE_S3__ACCESS_KEY_ID").write_text("from-file\n")
    (secrets / "LAKEHOUSE_S3__SECRET_ACCESS_KEY").write_text("file-secret\n")
    monkeypatch.setenv("LAKEHOUSE_SECRETS_DIR", str(secrets))
    assert load_settings("docker").s3.require_credentials() == ("from-file", "file-secret")


def test_missing_secret_lists_where_it_looked() -> None:
    with pytest.raises(MissingSecretError) as info:
        load_settings().s3.require_credentials()
    message = str(info.value)
    assert "LAKEHOUSE_S3__SECRET_ACCESS_KEY" in message
    assert "LAKEHOUSE_SECRETS_DIR" in message


def test_default_state_dir_is_inside_the_checkout_and_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_LOCAL__STATE_DIR")
    state = load_settings().local.state_dir
    assert state == paths.PROJECT_ROOT / ".lakehouse"
    gitignore = (paths.PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert ".lakehouse/" in gitignore


def test_table_writer_defaults_to_arrow_and_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().spark.table_writer == "arrow"
    assert load_settings("docker").spark.table_writer == "arrow"
    monkeypatch.setenv("LAKEHOUSE_SPARK__TABLE_WRITER", "spark")
    assert load_settings().spark.table_writer == "spark"
    monkeypatch.setenv("LAKEHOUSE_SPARK__TABLE_WRITER", "jvm")
    with pytest.raises(SettingsError, match="table_writer"):
        load_settings()
