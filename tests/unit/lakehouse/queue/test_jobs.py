"""The job contract: deterministic run ids, strict payloads, no secrets on the wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from lakehouse.endpoints.auth import ApiKeyAuth, BasicAuth, BearerAuth, NoAuth
from lakehouse.errors import InvalidJobPayloadError, MissingSecretError
from lakehouse.queue.crawl_request import ResolvedRequest
from lakehouse.queue.jobs import SCHEMA_VERSION, CrawlJob, JobCursor, JobResult, JobState, run_id_for

pytestmark = pytest.mark.unit

SLOT = datetime(2025, 3, 1, 12, 15, tzinfo=UTC)


def _job(**overrides) -> CrawlJob:
    args = dict(
        endpoint="sandbox_trades",
        slot_start=SLOT,
        slot_end=SLOT + timedelta(minutes=15),
        config_hash="ab" * 32,
        raw_base="raw",
    )
    args.update(overrides)
    return CrawlJob.for_slot(**args)


def _payload_dict(**changes) -> dict:
    doc = json.loads(_job().to_payload())
    doc.update(changes)
    return doc


# -- run ids ----------------------------------------------------------------------


def test_run_id_is_derived_from_endpoint_and_slot_only() -> None:
    assert run_id_for("sandbox_trades", SLOT) == "sandbox_trades__20250301T1215Z"
    # The same instant in another zone is the same slot, hence the same job.
    cet = SLOT.astimezone(timezone(timedelta(hours=1)))
    assert run_id_for("sandbox_trades", cet) == "sandbox_trades__20250301T1215Z"
    assert _job().run_id == _job(created_at=SLOT + timedelta(days=3)).run_id


@pytest.mark.parametrize(
    ("endpoint", "slot", "message"),
    [
        ("sandbox_trades", datetime(2025, 3, 1, 12, 15), "no time zone"),
        ("sandbox_trades", SLOT.replace(second=30), "whole minute"),
        ("Sandbox-Trades", SLOT, "must match"),
    ],
)
def test_run_id_rejects_ambiguous_inputs(endpoint: str, slot: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_id_for(endpoint, slot)


# -- payload round trip and strictness -------------------------------------------


def test_payload_round_trips_and_carries_schema_version_and_layout_prefix() -> None:
    job = _job(max_attempts=5, force=True)
    back = CrawlJob.from_payload(job.to_payload())
    assert back == job
    assert back.schema_version == SCHEMA_VERSION
    assert back.raw_prefix == "raw/sandbox_trades/ds=2025-03-01/hr=12/min=15/sandbox_trades__20250301T1215Z/"
    assert back.page_key(3, 42).endswith("/sandbox_trades__20250301T1215Z/attempt-42/page-000003.json")
    assert back.manifest_key.endswith("/_manifest.json")
    assert back.slot_start.tzinfo is not None and back.slot_start.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schema_version": 1}, "schema version 1, this worker reads version 3"),
        ({"schema_version": 2}, "schema version 2, this worker reads version 3"),
        ({"schema_version": 99}, "schema version 99, this worker reads version 3"),
        ({"surprise": 1}, "surprise"),
        ({"run_id": "sandbox_trades__20250301T1230Z"}, "does not match endpoint and slot_start"),
        ({"raw_prefix": "raw/other/"}, "raw_prefix"),
        ({"slot_end": "2025-03-01T12:15:00Z"}, "must be after slot_start"),
        ({"max_attempts": "3"}, "max_attempts"),  # strict: no string-to-int coercion
        ({"slot_start": "2025-03-01T12:15:00"}, "slot_start"),  # naive
    ],
)
def test_invalid_payloads_are_rejected_with_the_field_named(change: dict, field: str) -> None:
    with pytest.raises(InvalidJobPayloadError, match=field):
        CrawlJob.from_payload(json.dumps(_payload_dict(**change)))


def test_missing_fields_and_non_json_are_named() -> None:
    doc = _payload_dict()
    del doc["config_hash"]
    with pytest.raises(InvalidJobPayloadError, match="config_hash: Field required"):
        CrawlJob.from_payload(json.dumps(doc))
    with pytest.raises(InvalidJobPayloadError, match="Invalid JSON"):
        CrawlJob.from_payload("{not json")


# -- secrets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # What a v2 job carried, and what a queue writer would add to aim the worker.
        ({"request": {"url": "http://127.0.0.1:9/collect"}}, "request: Extra inputs are not permitted"),
        ({"url": "http://127.0.0.1:9/collect"}, "url: Extra inputs are not permitted"),
        ({"auth": {"type": "bearer", "token_env": "LAKEHOUSE_S3__SECRET_ACCESS_KEY"}}, "auth: Extra inputs"),
        ({"headers": {"X-Api-Key": "x"}}, "headers: Extra inputs"),
        ({"params": {"symbol": "X"}}, "params: Extra inputs"),
        ({"token_url": "http://127.0.0.1:9/token"}, "token_url: Extra inputs"),
        ({"cursor": {"start": "1", "param": "updated_since"}}, "cursor.param: Extra inputs"),
        ({"config_hash": "AB" * 32}, "config_hash"),  # lowercase hex only
        ({"config_hash": "ab" * 31}, "config_hash"),
        ({"cursor": {"start": ""}}, "cursor.start"),
    ],
)
def test_a_job_can_name_no_url_auth_header_or_token_url(change: dict, field: str) -> None:
    with pytest.raises(InvalidJobPayloadError, match=field):
        CrawlJob.from_payload(json.dumps(_payload_dict(**change)))


def test_a_job_is_data_only_and_holds_no_secret_or_variable_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_TOKEN", "tok-5ecret-value")
    job = _job(cursor=JobCursor(start="41", until="57"))
    payload = json.loads(job.to_payload())
    assert set(payload) == {
        "schema_version", "run_id", "endpoint", "slot_start", "slot_end", "config_hash", "cursor",
        "raw_prefix", "max_attempts", "force", "created_at",
    }  # fmt: skip
    assert payload["cursor"] == {"start": "41", "until": "57"}
    assert "tok-5ecret-value" not in job.to_payload() and "SANDBOX_TOKEN" not in job.to_payload()
    assert CrawlJob.from_payload(job.to_payload()) == job


def test_auth_apply_for_each_type() -> None:
    env = {"K": "kv", "U": "user", "P": "pw"}
    assert ApiKeyAuth.model_validate({"in": "header", "name": "X-Key", "key_env": "K"}).apply(env) == (
        {"X-Key": "kv"},
        {},
    )
    assert ApiKeyAuth.model_validate({"in": "query", "name": "apikey", "key_env": "K"}).apply(env) == (
        {},
        {"apikey": "kv"},
    )
    assert BasicAuth(username_env="U", password_env="P").apply(env)[0] == {"Authorization": "Basic dXNlcjpwdw=="}
    assert NoAuth().apply(env) == ({}, {})
    with pytest.raises(MissingSecretError, match="SANDBOX_TOKEN"):
        BearerAuth(token_env="SANDBOX_TOKEN").apply({})


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "bearer"},
        {"type": "api_key", "key_env": "K"},
        {"type": "api_key", "key_env": "K", "in": "body", "name": "k"},
        {"type": "basic", "username_env": "U"},
        {"type": "none", "token_env": "K"},
        {"type": "bearer", "token_env": "not a name"},
        {"type": "bearer", "token": "literal-secret"},
        {"type": "oauth2_client_credentials", "token_url": "https://a.example/t", "client_id_env": "I"},
        {"type": "magic"},
    ],
)
def test_job_auth_rejects_incomplete_or_mixed_fields(spec: dict) -> None:
    with pytest.raises(ValidationError):
        ResolvedRequest.model_validate({"url": "http://127.0.0.1/v1", "auth": spec})


@pytest.mark.parametrize(
    "request_fields",
    [
        {"url": "http://127.0.0.1/v1", "headers": {"Authorization": "Bearer abc"}},
        {"url": "http://127.0.0.1/v1", "headers": {"cookie": "session=abc"}},
        {"url": "http://user:pw@127.0.0.1/v1"},
        {"url": "http://127.0.0.1/v1?symbol=X&api_key=abc"},
        {"url": "http://127.0.0.1/v1", "params": {"token": "abc"}},
        {
            "url": "http://127.0.0.1/v1",
            "params": {"k": "abc"},
            "auth": {"type": "api_key", "key_env": "K", "in": "query", "name": "k"},
        },
        {"url": "ftp://127.0.0.1/v1"},
    ],
)
def test_requests_refuse_literal_credentials(request_fields: dict) -> None:
    with pytest.raises(ValidationError):
        ResolvedRequest.model_validate(request_fields)


def test_plain_urls_with_commas_and_encoded_values_are_accepted() -> None:
    url = "https://api.binance.com/api/v3/trades?symbol=BTCUSDT&limit=10&ids=1,2%2C3"
    assert ResolvedRequest(url=url).url == url


# -- results and states ------------------------------------------------------------


def test_results_need_their_evidence() -> None:
    JobResult(state=JobState.FINISHED, pages=2, records=10, bytes=99, manifest_path="raw/x/_manifest.json")
    JobResult(state=JobState.FAILED, error="pagination loop at page 7")
    with pytest.raises(ValidationError, match="manifest_path"):
        JobResult(state=JobState.FINISHED)
    with pytest.raises(ValidationError, match="error text"):
        JobResult(state=JobState.FAILED)
    with pytest.raises(ValidationError):
        JobResult(state=JobState.RUNNING, error="x")  # type: ignore[arg-type]


def test_terminal_states() -> None:
    assert {s for s in JobState if s.terminal} == {JobState.FINISHED, JobState.FAILED, JobState.DEAD}
