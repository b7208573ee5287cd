from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.config import paths
from lakehouse.endpoints import (
    EndpointConfig,
    EndpointConfigError,
    EndpointConfigsError,
    OffsetPagination,
    declared_namespaces,
    extract,
    load_endpoint,
    load_endpoints,
    validate_all,
)
from lakehouse.errors import LakehouseError

pytestmark = pytest.mark.unit

SHIPPED = {"binance_trades", "sandbox_trades", "sandbox_trades_page", "sandbox_trades_cursor", "sandbox_trades_link"}

BASE: dict[str, Any] = {
    "name": "demo",
    "request": {
        "url": "http://127.0.0.1:18080/v1/offset",
        "params": {"symbol": "BTCUSDT", "start_time": "{slot_start_ms}"},
        "auth": {"type": "bearer", "token_env": "SANDBOX_TOKEN"},
    },
    "pagination": {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 100},
    "response_map": {"records_path": "data.items"},
    "rate_limit": {"requests_per_second": 20},
    "schedule": "*/15 * * * *",
    "table": {
        "namespace": "market",
        "name": "demo",
        "columns": [{"name": "trade_id", "path": "id", "type": "long"}],
    },
}


def write(directory: Path, name: str, data: dict[str, Any] | str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def variant(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes; a value of None deletes the key."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return data


def error_for(tmp_path: Path, data: dict[str, Any] | str, name: str = "demo") -> str:
    with pytest.raises(EndpointConfigError) as caught:
        load_endpoint(write(tmp_path, name, data))
    assert isinstance(caught.value, LakehouseError)
    return str(caught.value)


# --- shipped configs ----------------------------------------------------------------


def test_every_shipped_config_validates() -> None:
    configs, errors = validate_all(paths.endpoints_dir())
    assert errors == []
    assert {c.name for c in configs} == SHIPPED


def test_shipped_pagination_styles_and_main_demo_endpoint() -> None:
    configs = {c.name: c for c in load_endpoints()}
    assert {c.pagination.type for c in configs.values()} == {"none", "offset", "page", "cursor", "link_header"}
    main = configs["sandbox_trades"]
    assert isinstance(main.pagination, OffsetPagination)
    assert main.request.url == "http://127.0.0.1:18080/v1/offset"
    assert main.request.auth.type == "bearer" and main.request.auth.token_env == "SANDBOX_TOKEN"
    assert main.table is not None and main.table.namespace == "market"
    binance = configs["binance_trades"]
    assert binance.request.url == "https://api.binance.com/api/v3/trades"
    assert binance.render_params(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)) == {
        "symbol": "BTCUSDT",
        "limit": "10",
    }
    assert binance.response_map.records_path == ""
    assert declared_namespaces(configs.values()) == ["market"]


# --- the model ----------------------------------------------------------------------


def test_render_params_fills_slot_templates_in_utc(tmp_path: Path) -> None:
    data = variant(
        request__params={
            "from": "{slot_start_iso}",
            "to": "{slot_end_iso}",
            "a": "{slot_start_ms}",
            "b": "{slot_end_s}",
            "day": "{slot_start_date}",
            "literal": '{"json": 1}',
            "n": 5,
            "flag": True,
        }
    )
    config = load_endpoint(write(tmp_path, "demo", data))
    start = datetime(2024, 5, 1, 10, 15, tzinfo=UTC)
    end = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert config.render_params(start, end) == {
        "from": "2024-05-01T10:15:00Z",
        "to": "2024-05-01T10:30:00Z",
        "a": "1714558500000",
        "b": "1714559400",
        "day": "2024-05-01",
        "literal": '{"json": 1}',
        "n": "5",
        "flag": "true",
    }
    with pytest.raises(LakehouseError, match="no timezone"):
        config.render_params(datetime(2024, 5, 1), end)


def test_post_body_templates_and_defaults(tmp_path: Path) -> None:
    data = variant(request__method="post", request__body={"window": {"from": "{slot_start_iso}"}, "n": 3})
    config = load_endpoint(write(tmp_path, "demo", data))
    start = datetime(2024, 5, 1, 10, 15, tzinfo=UTC)
    assert config.request.method == "POST"
    assert config.render_body(start, start) == {"window": {"from": "2024-05-01T10:15:00Z"}, "n": 3}
    assert config.rate_limit_key == "demo"
    assert config.retry.max_attempts == 5
    assert config.pagination.max_pages == 10000


def test_requests_per_minute_and_shared_key(tmp_path: Path) -> None:
    config = load_endpoint(
        write(tmp_path, "demo", variant(rate_limit={"requests_per_minute": 120, "burst": 3, "key": "shared_api"}))
    )
    assert config.rate_limit.per_second == 2.0
    assert config.rate_limit_key == "shared_api"


def test_extract_dotted_and_nested_paths() -> None:
    body = {"data": {"items": [{"id": 1, "venue": {"code": "X"}}]}, "total": 1}
    assert extract(body, "data.items") == [{"id": 1, "venue": {"code": "X"}}]
    assert extract(body, "") is body
    assert extract(body["data"]["items"][0], "venue.code") == "X"
    assert extract(body, "data.missing") is None
    assert extract({"x-total": 5}, '"x-total"') == 5


# --- malformed configs: every error names the file and the field path ----------------


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        (
            variant(pagination__offest_param="offset"),
            "pagination.offest_param",
            "unknown key 'offest_param'; did you mean 'offset_param'?",
        ),
        (variant(pagination__offset_param=None), "pagination.offset_param", "Field required"),
        (variant(schedule="*/15 * * *"), "schedule", "expected 5"),
        (variant(schedule="99 * * * *"), "schedule", "invalid cron"),
        (variant(rate_limit={"requests_per_second": 5, "requests_per_minute": 60}), "rate_limit", "exactly one of"),
        (variant(rate_limit={"burst": 2}), "rate_limit", "exactly one of"),
        (
            variant(request__auth={"type": "bearer", "token": "s3cr3t"}),
            "request.auth.token",
            "secrets never go in YAML",
        ),
        (
            variant(request__auth={"type": "bearer", "token_env": "sk-live abc"}),
            "request.auth.token_env",
            "NAME of an environment variable",
        ),
        (
            variant(request__auth={"type": "basic", "username_env": "U", "password": "p"}),
            "request.auth.password",
            "password_env",
        ),
        (variant(request__auth={"type": "oauth"}), "request.auth", "does not match any of the expected tags"),
        (variant(pagination={"type": "cursor", "cursor_param": "cursor"}), "pagination", "go together"),
        (
            variant(
                pagination={"type": "cursor", "next_url_path": "next", "cursor_param": "c", "next_cursor_path": "n"}
            ),
            "pagination",
            "not both",
        ),
        (variant(request__params={"t": "{slot_start}"}), "request.params.t", "unknown placeholder(s) {slot_start}"),
        (variant(request__params={"offset": "0"}), "(top level)", "remove it from request.params"),
        (
            variant(request__url="http://127.0.0.1:18080/v1/offset?symbol=BTC"),
            "request.url",
            "move its parameters into request.params",
        ),
        (
            variant(request__headers={"Authorization": "Bearer abc"}),
            "request.headers.Authorization",
            "configure request.auth",
        ),
        (variant(request__body={"a": 1}), "request", "only sent with method: POST"),
        (variant(response_map__records_path="data..items"), "response_map.records_path", "not a valid path"),
        (
            variant(table__columns=[{"name": "t", "path": "time", "type": "timestamp"}]),
            "table.columns[0]",
            "needs format",
        ),
        (
            variant(table__columns=[{"name": "p", "path": "price", "type": "decimal(40,2)"}]),
            "table.columns[0].type",
            "precision",
        ),
        (variant(table__columns=[{"name": "ds", "path": "d", "type": "string"}]), "table", "partition columns"),
        (variant(table__namespace="Market"), "table.namespace", "not a valid name"),
        (variant(retry={"max_attempts": 0}), "retry.max_attempts", "greater than or equal to 1"),
    ],
)
def test_malformed_config_names_file_and_field(tmp_path: Path, data: dict[str, Any], field: str, says: str) -> None:
    message = error_for(tmp_path, data)
    line = next(
        (ln for ln in message.splitlines() if ln.startswith(f"demo.yaml: {field}: ") or f"/demo.yaml: {field}: " in ln),
        None,
    )
    assert line is not None, message
    assert says in line, message


def test_errors_point_at_the_yaml_line(tmp_path: Path) -> None:
    text = yaml.safe_dump(variant(pagination__offest_param="offset"), sort_keys=False)
    expected_line = next(i for i, ln in enumerate(text.splitlines(), 1) if "offest_param" in ln)
    assert f"(line {expected_line})" in error_for(tmp_path, text)


def test_bad_name(tmp_path: Path) -> None:
    message = error_for(tmp_path, variant(name="Bad-Name"), name="Bad-Name")
    assert "name: 'Bad-Name' is not a valid name" in message


def test_name_must_equal_file_stem(tmp_path: Path) -> None:
    message = error_for(tmp_path, variant(name="other"), name="demo")
    assert "demo.yaml: name: 'other' must equal the file name 'demo'" in message


def test_bad_yaml_reports_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, "name: demo\nrequest:\n  url: [unclosed\nschedule: x\n")
    assert "demo.yaml: line " in message and "invalid YAML" in message


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    text = yaml.safe_dump(BASE, sort_keys=False) + "schedule: '@daily'\n"
    message = error_for(tmp_path, text)
    assert "duplicate key 'schedule'" in message and "line" in message


def test_non_mapping_file(tmp_path: Path) -> None:
    assert "the file is empty" in error_for(tmp_path, "")
    assert "the file is a list" in error_for(tmp_path, "- a\n")


# --- many files ---------------------------------------------------------------------


def test_validate_all_reports_every_broken_file_and_keeps_the_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "good_one", variant(name="good_one", table__name="one"))
    write(tmp_path, "good_two", variant(name="good_two", table=None))
    write(tmp_path, "bad_cron", variant(name="bad_cron", schedule="every minute", table=None))
    write(tmp_path, "bad_yaml", "name: [\n")
    configs, errors = validate_all(tmp_path)
    assert [c.name for c in configs] == ["good_one", "good_two"]
    assert sorted(Path(e.file).name for e in errors) == ["bad_cron.yaml", "bad_yaml.yaml"]
    with pytest.raises(EndpointConfigsError) as caught:
        load_endpoints(tmp_path)
    assert "bad_cron.yaml: schedule:" in str(caught.value) and "bad_yaml.yaml: line" in str(caught.value)


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    write(tmp_path, "demo", variant())
    (tmp_path / "demo.yml").write_text(yaml.safe_dump(variant(table=None)))
    configs, errors = validate_all(tmp_path)
    assert [c.name for c in configs] == ["demo"]
    assert len(errors) == 1 and "name: 'demo' is already used by" in str(errors[0])


def test_two_endpoints_cannot_write_one_table(tmp_path: Path) -> None:
    write(tmp_path, "first", variant(name="first"))
    write(tmp_path, "second", variant(name="second"))
    _, errors = validate_all(tmp_path)
    assert len(errors) == 1 and "second.yaml: table: market.demo is already written by" in str(errors[0])


def test_a_shared_rate_key_needs_one_rate(tmp_path: Path) -> None:
    write(tmp_path, "first", variant(name="first", table=None, rate_limit={"requests_per_second": 20, "key": "api"}))
    write(tmp_path, "second", variant(name="second", table=None, rate_limit={"requests_per_second": 10, "key": "api"}))
    write(tmp_path, "third", variant(name="third", table=None, rate_limit={"requests_per_minute": 1200, "key": "api"}))
    configs, errors = validate_all(tmp_path)
    assert [c.name for c in configs] == ["first", "third"]
    assert len(errors) == 1 and "second.yaml: rate_limit: shares key 'api'" in str(errors[0])


def test_missing_directory(tmp_path: Path) -> None:
    configs, errors = validate_all(tmp_path / "nope")
    assert configs == [] and "no such directory" in str(errors[0])


def test_declared_namespaces_are_unique_and_sorted(tmp_path: Path) -> None:
    configs = [
        EndpointConfig.model_validate(variant(name="a", table__namespace="zeta")),
        EndpointConfig.model_validate(variant(name="b", table__namespace="alpha")),
        EndpointConfig.model_validate(variant(name="c", table__namespace="zeta", table__name="other")),
        EndpointConfig.model_validate(variant(name="d", table=None)),
    ]
    assert declared_namespaces(configs) == ["alpha", "zeta"]


MERGE_COLUMNS = [
    {"name": "order_id", "path": "id", "type": "long", "required": True},
    {"name": "updated_at", "path": "updated", "type": "timestamp", "format": "epoch_ms", "required": True},
    {"name": "status", "path": "status", "type": "string"},
]


def test_a_merge_table_declares_its_key_and_order(tmp_path: Path) -> None:
    data = variant(table__write="merge", table__primary_key=["order_id"], table__order_by="updated_at")
    data["table"]["columns"] = MERGE_COLUMNS
    table = load_endpoint(write(tmp_path, "demo", data)).table
    assert table is not None
    assert (table.write, table.primary_key, table.order_by) == ("merge", ["order_id"], "updated_at")
    assert table.merge_log_identifier == "market.demo__merge_log"
    assert EndpointConfig.model_validate(BASE).table.write == "overwrite"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"write": "merge"}, "needs primary_key"),
        ({"write": "merge", "primary_key": ["nope"]}, "primary_key names 'nope', which is not a declared column"),
        ({"write": "merge", "primary_key": ["status"]}, "primary_key column 'status' must be required: true"),
        ({"write": "merge", "primary_key": ["order_id"], "order_by": "status"}, "order_by column 'status' must be"),
        ({"write": "merge", "primary_key": ["order_id"], "order_by": "order_id"}, "part of primary_key"),
        ({"primary_key": ["order_id"]}, "apply to write: merge tables only"),
        ({"write": "upsert"}, "table.write"),
    ],
)
def test_merge_settings_are_checked_with_the_file_and_field(
    tmp_path: Path, table: dict[str, Any], message: str
) -> None:
    data = variant()
    data["table"].update(table, columns=MERGE_COLUMNS)
    with pytest.raises(EndpointConfigError) as err:
        load_endpoint(write(tmp_path, "demo", data))
    assert "demo.yaml: table" in str(err.value) and message in str(err.value)


# --- sla ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("45m", 2700), ("1h30m", 5400), ("2d", 172_800), ("90s", 90), ("PT30M", 1800), (3600, 3600)],
)
def test_sla_is_a_duration_in_the_forms_people_write(tmp_path: Path, written: object, seconds: int) -> None:
    config = load_endpoint(write(tmp_path, "demo", variant(sla=written)))
    assert config.sla is not None and config.sla.total_seconds() == seconds


def test_sla_is_optional() -> None:
    assert EndpointConfig.model_validate(BASE).sla is None


@pytest.mark.parametrize("written", ["0m", -60, "soon", "30 minutes"])
def test_an_sla_that_is_not_a_positive_duration_names_the_field(tmp_path: Path, written: object) -> None:
    message = error_for(tmp_path, variant(sla=written))
    assert "demo.yaml" in message and "sla" in message
