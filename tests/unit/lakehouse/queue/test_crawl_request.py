"""The config's content hash, and the request a worker builds from its own config."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.config import paths
from lakehouse.endpoints import EndpointConfig, load_endpoints, parse_endpoint
from lakehouse.pipeline.incremental import AskedRange
from lakehouse.pipeline.steps import job_for_slot
from lakehouse.queue.crawl_request import ConfigHashMismatchError, JobConfigMismatchError, resolve_request
from lakehouse.queue.jobs import CrawlJob, JobCursor

pytestmark = pytest.mark.unit

SLOT = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)
END = SLOT + timedelta(minutes=15)

YAML = """\
# a comment
name: demo
request:
  url: http://api.test/v1/trades
  method: GET
  params: {symbol: X, count: 10, start: "{slot_start_ms}"}
  auth: {type: api_key, in: query, name: apikey, key_env: DEMO_KEY}
pagination: {type: offset, offset_param: offset, limit_param: limit, page_size: 10}
rate_limit: {requests_per_second: 5}
schedule: "*/15 * * * *"
"""

# The same config: other key order, flow vs block style, quoting the model
# normalises, a default spelled out, comments and blank lines.
SAME = """\
schedule: '*/15 * * * *'

rate_limit:
  requests_per_second: 5.0   # a float: the model keeps the number
pagination:
  page_size: 10
  limit_param: limit
  offset_param: offset
  type: offset
request:
  auth:
    key_env: DEMO_KEY
    name: apikey
    in: query
    type: api_key
  params:
    start: "{slot_start_ms}"
    count: "10"
    symbol: X
  method: get
  url: http://api.test/v1/trades
name: demo
"""


def _doc() -> dict[str, Any]:
    return yaml.safe_load(YAML)


def _config(doc: dict[str, Any]) -> EndpointConfig:
    return parse_endpoint(yaml.safe_dump(doc), "demo.yaml")


def test_the_hash_ignores_yaml_formatting_and_is_hex_sha256() -> None:
    a, b = parse_endpoint(YAML, "demo.yaml"), parse_endpoint(SAME, "demo.yaml")
    assert a.content_hash == b.content_hash
    assert len(a.content_hash) == 64 and int(a.content_hash, 16) >= 0
    # A loaded copy of the same validated model: the same hash (the worker's own load).
    assert EndpointConfig.model_validate(a.model_dump(by_alias=True)).content_hash == a.content_hash


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


CHANGES: list[tuple[tuple[str, ...], Any]] = [
    (("request", "url"), "http://api.test/v1/other"),
    (("request", "url"), "http://api.test:8080/v1/trades"),
    (("request", "params", "symbol"), "Y"),
    (("request", "params", "extra"), "1"),
    (("request", "headers"), {"Accept": "application/json"}),
    (("request", "auth"), {"type": "api_key", "in": "query", "name": "apikey", "key_env": "OTHER_KEY"}),
    (("request", "auth"), {"type": "bearer", "token_env": "DEMO_KEY"}),
    (("request", "timeout_seconds"), 31),
    (("pagination", "page_size"), 11),
    (("pagination",), {"type": "page", "page_param": "offset", "page_size": 10}),
    (("rate_limit", "requests_per_second"), 6),
    (("schedule",), "*/5 * * * *"),
    (("description",), "now with a description"),
    (("retry",), {"max_attempts": 4}),
    (("tags",), ["x"]),
    (("catchup",), True),
]


@pytest.mark.parametrize(("path", "value"), CHANGES, ids=lambda v: ".".join(v) if isinstance(v, tuple) else "")
def test_any_field_changes_the_hash(path: tuple[str, ...], value: Any) -> None:
    base = _config(_doc())
    assert _config(_set(_doc(), path, value)).content_hash != base.content_hash


def test_two_configs_differing_only_in_a_default_discriminator_hash_apart() -> None:
    # Left-out defaults would make `type: offset` and `type: page` with default fields
    # one hash; the hash includes defaults so they differ.
    doc = _doc()
    doc["pagination"] = {"type": "none"}
    none = _config(doc).content_hash
    doc["request"]["auth"] = {"type": "none"}
    assert _config(doc).content_hash != none


@pytest.mark.parametrize("path", sorted(Path(paths.endpoints_dir()).glob("*.yaml")), ids=lambda p: p.stem)
def test_resolve_request_builds_what_the_v2_producer_put_in_the_job(path: Path) -> None:
    (config,) = [c for c in load_endpoints() if c.name == path.stem]
    job = job_for_slot(config, SLOT, END, "raw")
    request = resolve_request(config, CrawlJob.from_payload(job.to_payload()))
    # The v2 job's request: url, method and headers as configured, params rendered.
    assert request.url == config.request.url
    assert request.method == config.request.method
    assert request.headers == dict(config.request.headers)
    assert request.auth == config.request.auth
    assert request.params == config.render_params(SLOT, END)
    assert not any("{" in value for value in request.params.values())


def test_the_sandbox_config_resolves_to_its_known_request() -> None:
    (config,) = [c for c in load_endpoints() if c.name == "sandbox_trades"]
    request = resolve_request(config, job_for_slot(config, SLOT, END, "raw"))
    assert request.url == "http://127.0.0.1:18080/v1/offset"
    assert request.params == {"symbol": "BTCUSDT", "start_time": "1704164400000", "end_time": "1704165300000"}
    assert request.headers == {"Accept": "application/json"}
    assert request.auth.env_names() == {"SANDBOX_TOKEN"}


def test_a_job_made_from_another_config_is_refused_naming_both_hashes() -> None:
    worker = _config(_doc())
    producer = _config(_set(_doc(), ("request", "url"), "http://api.test/v2/trades"))
    job = job_for_slot(producer, SLOT, END, "raw")
    with pytest.raises(ConfigHashMismatchError) as refused:
        resolve_request(worker, job)
    text = str(refused.value)
    assert producer.content_hash in text and worker.content_hash in text
    assert "lakehouse queue retry demo__20240102T0300Z" in text and "lakehouse crawl demo --slot" in text
    assert "api.test" not in text  # says which config, never where it points


def test_a_job_for_another_endpoint_or_with_a_stray_cursor_is_refused() -> None:
    config = _config(_doc())
    job = job_for_slot(config, SLOT, END, "raw")
    with pytest.raises(JobConfigMismatchError, match="endpoint"):
        resolve_request(_config(_set(_doc(), ("name",), "other")), job.model_copy(update={"endpoint": "demo"}))
    with pytest.raises(JobConfigMismatchError, match="is not incremental"):
        resolve_request(config, job.model_copy(update={"cursor": JobCursor(start="1")}))


def test_an_incremental_job_sends_the_cursor_under_the_configured_names_only() -> None:
    doc = _doc()
    doc["incremental"] = {"cursor_path": "ts", "param": "since", "until_param": "until", "initial_value": 0}
    config = _config(doc)
    job = job_for_slot(config, SLOT, END, "raw", cursor=AskedRange("5", "9", "recorded"))
    assert resolve_request(config, job).params == {
        "symbol": "X",
        "count": "10",
        "start": "1704164400000",
        "since": "5",
        "until": "9",
    }
    with pytest.raises(JobConfigMismatchError, match="has no cursor"):
        resolve_request(config, job.model_copy(update={"cursor": None}))
