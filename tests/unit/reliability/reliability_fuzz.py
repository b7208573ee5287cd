"""Deterministic generators of malformed endpoint configs (issue 12, bad input).

``malformed_configs(n, seed)`` mutates the shipped configs (config/endpoints/*.yaml)
one way each: a wrong type, an unknown key, a bad cron, a bad JMESPath, a bad
template, a duplicate column, a huge value, a hostile name, a secret in YAML, a
header or parameter that smuggles a second one, a YAML anchor/alias (a plain one, or
an alias bomb: under 1 KB of YAML standing for 10^7 nodes). Each case says which field path
the validator must name. Same seed, same cases: a failure reproduces.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "config" / "endpoints"


@dataclass(frozen=True)
class BadConfig:
    name: str  # the file stem (and, unless the mutation is of the name, the config's name)
    kind: str  # the mutation family
    field: str  # the field path the error must name
    doc: dict[str, Any]

    @property
    def filename(self) -> str:
        return f"{self.name}.yaml"

    def text(self) -> str:
        return yaml.safe_dump(self.doc, sort_keys=False, allow_unicode=True)


def shipped_configs() -> dict[str, dict[str, Any]]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(SHIPPED.glob("*.yaml"))}


Mutation = Callable[[dict[str, Any], random.Random], str]  # mutates the doc, returns the field path


def _ensure_table(doc: dict[str, Any]) -> dict[str, Any]:
    doc.setdefault(
        "table",
        {"namespace": "market", "name": doc["name"], "columns": [{"name": "trade_id", "path": "id", "type": "long"}]},
    )
    return doc["table"]


def wrong_type(doc: dict[str, Any], rng: random.Random) -> str:
    choices: list[tuple[tuple[str, ...], Any]] = [
        (("rate_limit", "burst"), "lots"),
        (("request", "timeout_seconds"), [30]),
        (("retry", "max_attempts"), "five"),
        (("catchup",), {"yes": True}),
        (("tags",), "sandbox"),
        (("request", "params"), ["symbol", "BTCUSDT"]),
        (("rate_limit", "requests_per_second"), "fast"),
        (("start_date",), "yesterday"),
        (("request", "method"), 7),
    ]
    path, value = rng.choice(choices)
    target = doc
    for part in path[:-1]:
        target = target.setdefault(part, {})
    if path == ("rate_limit", "requests_per_second"):
        target.pop("requests_per_minute", None)
    target[path[-1]] = value
    return ".".join(path)


def unknown_key(doc: dict[str, Any], rng: random.Random) -> str:
    where, key = rng.choice(
        [
            ((), "schedual"),
            (("request",), "timeout"),
            (("rate_limit",), "rps"),
            (("retry",), "backoff"),
            (("response_map",), "records"),
            (("request",), "verify_ssl"),
            ((), "__proto__"),
        ]
    )
    target = doc
    for part in where:
        target = target.setdefault(part, {})
    target[key] = rng.choice([1, "x", True])
    return ".".join((*where, key))


def bad_cron(doc: dict[str, Any], rng: random.Random) -> str:
    doc["schedule"] = rng.choice(
        ["61 * * * *", "* * *", "@fortnightly", "*/15 * * * * *", "a b c d e", "0 25 * * *", "", "*/15 * * 13 *"]
    )
    return "schedule"


def bad_jmespath(doc: dict[str, Any], rng: random.Random) -> str:
    bad = rng.choice(["data..items", "[?", "data[", "foo)", "data.[", "`unterminated", "a b"])
    if rng.random() < 0.5:
        doc.setdefault("response_map", {})["records_path"] = bad
        return "response_map.records_path"
    table = _ensure_table(doc)
    table["columns"][0]["path"] = bad
    return "table.columns[0].path"


def bad_template(doc: dict[str, Any], rng: random.Random) -> str:
    placeholder = rng.choice(["{slot_begin_ms}", "{now}", "{slot_start_ms}{evil}", "{__class__}", "{SLOT_START_MS}"])
    doc["request"].setdefault("params", {})["start_time"] = placeholder
    return "request.params.start_time"


def duplicate_column(doc: dict[str, Any], rng: random.Random) -> str:
    table = _ensure_table(doc)
    if rng.random() < 0.7:
        table["columns"].append(copy.deepcopy(table["columns"][0]))
    else:
        table["columns"].append({"name": rng.choice(["ds", "hr", "min"]), "path": "x", "type": "string"})
    return "table"


def huge_value(doc: dict[str, Any], rng: random.Random) -> str:
    choice = rng.randrange(7)
    if choice == 0:
        doc["pagination"] = {**doc.get("pagination", {}), "max_pages": 10**9}
        if doc["pagination"].get("type", "none") == "none":
            doc["pagination"] = {"type": "link_header", "max_pages": 10**9}
        return "pagination.max_pages"
    if choice == 1:
        doc["request"]["timeout_seconds"] = 10**7
        return "request.timeout_seconds"
    if choice == 2:
        doc["retry"] = {"max_attempts": 5, "backoff_seconds": 1, "max_backoff_seconds": 10**9}
        return "retry.max_backoff_seconds"
    if choice == 3:
        doc["description"] = "x" * 200_000
        return "description"
    if choice == 4:
        doc["rate_limit"]["burst"] = 10**12
        return "rate_limit.burst"
    if choice == 5:
        doc["retry"] = {"max_attempts": 10**6}
        return "retry.max_attempts"
    doc["pagination"] = {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 10**8}
    return "pagination.page_size"


def hostile_name(doc: dict[str, Any], rng: random.Random) -> str:
    value = rng.choice(
        [
            "../../etc/passwd",
            "/etc/passwd",
            "sandbox_tr\u0430des",  # Cyrillic a
            "sandbox_trades\n",
            "a" * 300,
            "Sandbox",
            "sandbox-trades",
            "sandbox trades",
            "\uff53andbox",
        ]
    )
    if rng.random() < 0.4:
        doc["name"] = value
        return "name"
    table = _ensure_table(doc)
    key = rng.choice(["name", "namespace"])
    table[key] = value
    return f"table.{key}"


def secret_in_yaml(doc: dict[str, Any], rng: random.Random) -> str:
    key = rng.choice(["token", "password", "secret"])
    doc["request"]["auth"] = {"type": "bearer", "token_env": "SANDBOX_TOKEN", key: "hunter2"}
    return "request.auth"


def smuggled_header(doc: dict[str, Any], rng: random.Random) -> str:
    choice = rng.randrange(5)
    if choice == 0:
        doc["request"]["headers"] = {"Accept": "application/json\r\nX-Injected: 1"}
    elif choice == 1:
        doc["request"]["headers"] = {"X-Bad Header": "1"}
    elif choice == 2:
        doc["request"]["headers"] = {"X-API-Key": "literal-key"}
    elif choice == 3:
        doc["request"]["auth"] = {
            "type": "api_key",
            "in": "header",
            "name": "X-Key\r\nX-Evil",
            "key_env": "SANDBOX_TOKEN",
        }
        return "request.auth"
    else:
        doc["request"].setdefault("params", {})["api_key"] = "literal"
        return "request.params"
    return "request.headers"


def bad_url(doc: dict[str, Any], rng: random.Random) -> str:
    doc["request"]["url"] = rng.choice(
        [
            "file:///etc/passwd",
            "127.0.0.1:18080/v1/offset",
            "http://user:pw@127.0.0.1/x",
            "http://127.0.0.1:18080/v1/offset?token=abc",
            "http://127.0.0.1:18080/v1 offset",
            "http://exаmple.com/x",
        ]
    )
    return "request.url"


def yaml_alias(doc: dict[str, Any], rng: random.Random) -> str:
    """The same Python object twice in the doc: safe_dump writes it once with an anchor
    and refers to it by alias. Nested ten wide, seven deep, that is an alias bomb."""
    if rng.random() < 0.5:
        shared: Any = ["sandbox"]
        doc["tags"] = shared
        doc["request"].setdefault("headers", {})["X-Tags"] = shared
    else:
        shared = ["lol"] * 10
        for _ in range(6):
            shared = [shared] * 10
        doc["tags"] = shared
    # The error names the line and column of the first anchor (the text BadConfig writes).
    for number, line in enumerate(BadConfig("", "", "", doc).text().splitlines(), start=1):
        if "&" in line:
            return f"line {number}, column {line.index('&') + 1}"
    raise AssertionError("safe_dump wrote no anchor")


MUTATIONS: dict[str, Mutation] = {
    "wrong_type": wrong_type,
    "unknown_key": unknown_key,
    "bad_cron": bad_cron,
    "bad_jmespath": bad_jmespath,
    "bad_template": bad_template,
    "duplicate_column": duplicate_column,
    "huge_value": huge_value,
    "hostile_name": hostile_name,
    "secret_in_yaml": secret_in_yaml,
    "smuggled_header": smuggled_header,
    "bad_url": bad_url,
    "yaml_alias": yaml_alias,
}


def malformed_configs(n: int = 50, seed: int = 12) -> list[BadConfig]:
    """``n`` malformed configs: every family at least once (round robin), base config
    and variant chosen by the seeded generator."""
    rng = random.Random(seed)
    bases = shipped_configs()
    kinds = list(MUTATIONS)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        base_name = rng.choice(sorted(bases))
        doc = copy.deepcopy(bases[base_name])
        name = f"fuzz_{i:03d}"
        doc["name"] = name
        if doc.get("table"):
            doc["table"]["name"] = name  # one table per endpoint, even if it validated
        field = MUTATIONS[kind](doc, rng)
        out.append(BadConfig(name=name, kind=kind, field=field, doc=doc))
    return out
