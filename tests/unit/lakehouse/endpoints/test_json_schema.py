"""The endpoint JSON Schema (lakehouse.endpoints.json_schema): the committed file is
the generated one, every shipped config points its editor at it and passes it, and
`lakehouse validate`'s loader and the schema agree on every fuzzed config of the
reliability suite, except exactly the rule classes the schema documents it cannot
express (each of which the fuzzer must still hit, so the list cannot go stale)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "reliability"))

from reliability_fuzz import MUTATIONS, ROOT, SHIPPED, BadConfig, malformed_configs  # noqa: E402

from lakehouse.cli import app  # noqa: E402
from lakehouse.config.safe_yaml import load_yaml  # noqa: E402
from lakehouse.endpoints import parse_endpoint  # noqa: E402
from lakehouse.endpoints.json_schema import SCHEMA_FILE, SCHEMA_LINE, endpoint_schema, schema_text  # noqa: E402
from lakehouse.errors import EndpointConfigError  # noqa: E402

pytestmark = pytest.mark.unit

COMMITTED = ROOT / "config" / SCHEMA_FILE
CASES = malformed_configs(300, seed=12)
VALIDATOR = jsonschema.Draft202012Validator(endpoint_schema(), format_checker=jsonschema.FormatChecker())

# The classes of rule the schema cannot express (json_schema.py's docstring says why).
GRAMMAR = "a grammar (cron, JMESPath)"
BETWEEN_FIELDS = "a rule between fields"
SECRET_POLICY = "the secret policy"
YAML_ITSELF = "YAML itself (anchors, aliases)"


def schema_blind(case: BadConfig) -> str | None:
    """Which documented class makes ``case`` a config the schema cannot refuse."""
    if case.kind in ("bad_cron", "bad_jmespath"):
        return GRAMMAR
    if case.kind == "duplicate_column":
        return BETWEEN_FIELDS
    if case.kind == "yaml_alias":
        return YAML_ITSELF
    if case.kind == "smuggled_header":
        literal_header = case.doc["request"].get("headers") == {"X-API-Key": "literal-key"}
        if literal_header or case.field == "request.params":
            return SECRET_POLICY
    return None


def schema_accepts(text: str) -> bool | None:
    """The schema's verdict on a config file's text; None when the YAML itself is
    refused (the schema never sees a document)."""
    try:
        doc = load_yaml(text)
    except yaml.YAMLError:
        return None
    # What an editor sees: YAML dates are text to a JSON Schema.
    doc = json.loads(json.dumps(doc, default=str))
    return VALIDATOR.is_valid(doc)


def loader_accepts(case: BadConfig) -> bool:
    try:
        parse_endpoint(case.text(), case.filename, case.name)
    except EndpointConfigError:
        return False
    return True


def test_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), "run `lakehouse schema` and commit the file"
    jsonschema.Draft202012Validator.check_schema(endpoint_schema())


def test_schema_command_writes_and_checks(tmp_path: Path) -> None:
    out = tmp_path / SCHEMA_FILE
    result = CliRunner().invoke(app, ["schema", "--check", "--output", str(out)])
    assert result.exit_code == 1 and "run `lakehouse schema`" in result.output
    result = CliRunner().invoke(app, ["schema", "--output", str(out)])
    assert result.exit_code == 0 and out.read_text() == schema_text()
    assert CliRunner().invoke(app, ["schema", "--check", "--output", str(out)]).exit_code == 0


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_config_points_at_the_schema_and_passes_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_LINE
    assert (path.parent / SCHEMA_LINE.split("$schema=")[1]).resolve() == COMMITTED.resolve()
    assert schema_accepts(text) is True
    parse_endpoint(text, path.name, path.stem)


def test_loader_and_schema_agree_on_every_fuzzed_config() -> None:
    disagreements: list[tuple[str, str, str]] = []
    blind_seen: set[str] = set()
    for case in CASES:
        assert not loader_accepts(case), case.kind  # every fuzzed config is malformed
        verdict = schema_accepts(case.text())
        blind = schema_blind(case)
        if blind is None and verdict is not False:
            disagreements.append((case.name, case.kind, case.field))
        if blind is not None:
            # The schema lets exactly these through (YAML refusals never reach it).
            assert verdict is (None if blind == YAML_ITSELF else True), (case.name, case.kind, blind)
            blind_seen.add(blind)
    assert disagreements == []
    assert blind_seen == {GRAMMAR, BETWEEN_FIELDS, SECRET_POLICY, YAML_ITSELF}
    assert {c.kind for c in CASES} == set(MUTATIONS)


def test_schema_refuses_what_one_field_can_say() -> None:
    base: dict[str, Any] = yaml.safe_load((SHIPPED / "sandbox_trades.yaml").read_text())
    base = json.loads(json.dumps(base, default=str))
    assert VALIDATOR.is_valid(base)
    for path, value in (
        (("name",), "Trades"),
        (("name",), "trades\n"),
        (("request", "url"), "http://user:pw@127.0.0.1/x"),
        (("request", "params", "start_time"), "{slot_begin_ms}"),
        (("table", "columns", 0, "type"), "decimal(40,2)"),
        (("request", "method"), "PUT"),
    ):
        doc = json.loads(json.dumps(base))
        target: Any = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        assert not VALIDATOR.is_valid(doc), (path, value)
    # ...and accepts what the loader widens: `method: get`, `limit: 10`, `sla: 45m`, braces in JSON text.
    doc = json.loads(json.dumps(base))
    doc["request"]["method"] = "get"
    doc["request"]["params"]["limit_hint"] = 10
    doc["request"]["params"]["filter"] = '{"a": 1}'
    doc["sla"] = "45m"
    doc["table"]["columns"][0]["type"] = "Decimal(18, 8)"
    assert VALIDATOR.is_valid(doc), list(VALIDATOR.iter_errors(doc))[:2]
