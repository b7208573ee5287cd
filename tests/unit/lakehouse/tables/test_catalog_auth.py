"""The catalog credential without a running Nessie: the key pair and tokens, what the
local stack writes and renders from them, and where every client puts the token."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from lakehouse.config.settings import SECRET_FIELDS, load_settings
from lakehouse.engines.spark_conf import SessionOptions, launch_conf, secret_conf
from lakehouse.errors import MissingSecretError
from lakehouse.local import credentials
from lakehouse.local.files import write_private
from lakehouse.local.services.nessie_server import NessieService
from lakehouse.tables import catalog_auth
from lakehouse.tables.catalog import catalog_properties

YEAR = timedelta(days=365)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> str:
    return catalog_auth.generate_signing_key()


def _public(b64: str):  # type: ignore[no-untyped-def]
    import base64

    return serialization.load_der_public_key(base64.b64decode(b64))


def test_a_minted_token_verifies_against_the_public_key_nessie_is_given(key: str) -> None:
    token = catalog_auth.mint_token(key, YEAR, now=NOW)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    claims = jwt.decode(
        token, _public(catalog_auth.public_key_b64(key)), algorithms=["RS256"], options={"verify_exp": False}
    )
    assert claims["sub"] == "lakehouse" and claims["iss"] == "lakehouse"
    assert claims["exp"] - claims["iat"] == int(YEAR.total_seconds())
    assert "\n" not in catalog_auth.public_key_b64(key) and "BEGIN" not in catalog_auth.public_key_b64(key)


def test_a_token_of_another_key_or_expired_or_forged_is_not_this_stacks(key: str) -> None:
    other = catalog_auth.generate_signing_key()
    mine = catalog_auth.mint_token(key, YEAR)
    assert catalog_auth.token_expiry(mine, key) is not None
    assert catalog_auth.token_expiry(catalog_auth.mint_token(other, YEAR), key) is None
    assert catalog_auth.token_expiry(catalog_auth.mint_token(key, YEAR, now=NOW - 2 * YEAR), key) is None
    unsigned = jwt.encode({"sub": "lakehouse", "exp": NOW + YEAR}, key=None, algorithm="none")
    assert catalog_auth.token_expiry(unsigned, key) is None
    assert catalog_auth.token_expiry("not-a-jwt", key) is None


def test_a_new_token_is_minted_when_a_quarter_of_its_lifetime_is_left(key: str) -> None:
    token = catalog_auth.mint_token(key, YEAR, now=NOW)
    assert not catalog_auth.needs_new_token(token, key, YEAR, now=NOW + timedelta(days=270))
    assert catalog_auth.needs_new_token(token, key, YEAR, now=NOW + timedelta(days=275))
    assert catalog_auth.needs_new_token(None, key, YEAR)


def test_keygen_prints_a_matching_public_key_and_token_for_env() -> None:
    lines = dict(line.split("=", 1) for line in catalog_auth.keygen_env(timedelta(days=30)).splitlines())
    assert set(lines) == {"NESSIE_OIDC_PUBLIC_KEY", "LAKEHOUSE_CATALOG__TOKEN"}
    claims = jwt.decode(
        lines["LAKEHOUSE_CATALOG__TOKEN"], _public(lines["NESSIE_OIDC_PUBLIC_KEY"]), algorithms=["RS256"]
    )
    assert claims["exp"] - claims["iat"] == 30 * 86400


@pytest.fixture()
def stack_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for env in SECRET_FIELDS.values():
        monkeypatch.delenv(env, raising=False)
    monkeypatch.delenv("LAKEHOUSE_SECRETS_DIR", raising=False)
    return load_settings("local", local={"state_dir": tmp_path / "state"})


def test_the_first_up_writes_a_private_key_and_a_token_that_settings_read(stack_settings) -> None:  # type: ignore[no-untyped-def]
    assert credentials.ensure_local_credentials(stack_settings)
    secrets = stack_settings.local.secrets_dir
    for name in (credentials.SIGNING_KEY_FILE, "LAKEHOUSE_CATALOG__TOKEN"):
        assert stat.S_IMODE((secrets / name).stat().st_mode) == 0o600
    reloaded = load_settings("local", local={"state_dir": stack_settings.local.state_dir})
    token = reloaded.catalog.require_token()
    assert catalog_auth.token_expiry(token, credentials.signing_key(stack_settings)) is not None
    # A second `up` keeps both.
    assert not credentials.ensure_local_credentials(reloaded)
    assert load_settings("local", local={"state_dir": stack_settings.local.state_dir}).catalog.require_token() == token


def test_up_mints_again_for_a_stale_or_foreign_token(stack_settings) -> None:  # type: ignore[no-untyped-def]
    credentials.ensure_local_credentials(stack_settings)
    path = stack_settings.local.secrets_dir / "LAKEHOUSE_CATALOG__TOKEN"
    private = credentials.signing_key(stack_settings)
    for stale in (
        catalog_auth.mint_token(private, YEAR, now=datetime.now(UTC) - timedelta(days=300)),
        catalog_auth.mint_token(catalog_auth.generate_signing_key(), YEAR),
    ):
        write_private(path, stale + "\n")
        assert credentials.ensure_catalog_token(stack_settings)
        fresh = path.read_text().strip()
        assert fresh != stale and not catalog_auth.needs_new_token(fresh, private, YEAR)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_token_from_the_environment_is_left_alone(stack_settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LAKEHOUSE_CATALOG__TOKEN", "given-by-the-operator")
    credentials.ensure_local_credentials(stack_settings)
    assert not (stack_settings.local.secrets_dir / "LAKEHOUSE_CATALOG__TOKEN").exists()


def test_nessie_is_started_with_authentication_on_the_stacks_public_key(stack_settings) -> None:  # type: ignore[no-untyped-def]
    credentials.ensure_local_credentials(stack_settings)
    settings = load_settings("local", local={"state_dir": stack_settings.local.state_dir})
    props = NessieService(settings).properties()
    assert props["nessie.server.authentication.enabled"] == "true"
    assert props["quarkus.oidc.tenant-enabled"] == "true"
    assert props["quarkus.oidc.public-key"] == catalog_auth.public_key_b64(credentials.signing_key(settings))
    assert "BEGIN" not in "".join(props.values()), "the private key never reaches Nessie"


def test_every_client_sends_the_token_and_none_puts_it_on_argv() -> None:
    settings = load_settings(
        "local", s3={"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t"}, catalog={"token": "tok-123"}
    )
    assert catalog_properties(settings)["token"] == "tok-123"
    assert secret_conf(settings)["spark.sql.catalog.lakehouse.token"] == "tok-123"
    launch = launch_conf(settings, SessionOptions(), verify=False)
    assert "tok-123" not in "".join(launch.values()), "launch conf becomes spark-submit argv"
    assert catalog_auth.bearer_headers(settings) == {"Authorization": "Bearer tok-123"}
    assert "tok-123" not in str(settings.redacted())


def test_no_token_is_a_named_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LAKEHOUSE_CATALOG__TOKEN", raising=False)
    settings = load_settings(
        "local", local={"state_dir": tmp_path}, s3={"access_key_id": "a", "secret_access_key": "b"}
    )
    with pytest.raises(MissingSecretError, match=r"(?s)catalog's bearer token.*LAKEHOUSE_CATALOG__TOKEN"):
        catalog_properties(settings)
