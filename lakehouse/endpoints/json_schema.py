"""The JSON Schema of an endpoint YAML file, generated from the config model.

Editors read it (``# yaml-language-server: $schema=...`` on the first line of each
config) to complete and check fields as one types. It is generated, never written by
hand: ``EndpointConfig.model_json_schema`` plus what pydantic cannot see inside our
validator functions, added here per function (a name's pattern, the column types, the
slot placeholders, a header's characters...). ``lakehouse schema`` writes it to
``config/endpoint.schema.json``; a test keeps the committed file equal to this.

What the schema cannot say (``lakehouse validate`` still checks all of it, and the
agreement test, tests/unit/lakehouse/endpoints/test_json_schema.py, accounts for
exactly these classes):

- cron syntax (``schedule``) and JMESPath syntax (``records_path``, column paths,
  ``total_path``, cursor paths): grammars no regular expression covers;
- rules between fields: exactly one rate, option pairs (``cursor_param`` with
  ``next_cursor_path``), merge keys that name required columns, a column declared
  twice, pagination parameters repeated in ``request.params``, a body without POST,
  the OAuth2 token host, incremental and parent rules;
- the secret policy (a literal credential in a header or parameter, a secret-looking
  name): it weighs a value against the names around it;
- YAML itself: anchors and aliases, duplicate keys, and the file name that must
  equal ``name`` (the schema sees a parsed document, not a file).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from lakehouse.endpoints.auth import HEADER_NAME_RE
from lakehouse.endpoints.models import NAME_MAX, NAME_RE, SIMPLE_TYPES, EndpointConfig
from lakehouse.endpoints.templates import PLACEHOLDERS

SCHEMA_ID = "https://lakehouse-ingest.invalid/endpoint.schema.json"
SCHEMA_FILE = "endpoint.schema.json"
# Where the shipped configs point their editors (relative to config/endpoints/).
SCHEMA_REF = f"../{SCHEMA_FILE}"
SCHEMA_LINE = f"# yaml-language-server: $schema={SCHEMA_REF}"


def _any_case(word: str) -> str:
    # JSON Schema patterns have no flags: spell case-insensitivity out.
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def _whole(pattern: str) -> str:
    """``pattern`` anchored at both ends in every dialect: Python's ``$`` (which the
    jsonschema package uses) also matches before a final newline, ECMA's does not."""
    return "^(?:" + pattern + r")(?!\n)$"


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# Text whose every {identifier} is a known slot placeholder (templates.py); braces
# around anything else (a JSON literal) stay as written, as the validator allows.
_TEMPLATE = _whole(r"(?:[^{]|\{(?!" + _IDENT + r"\})|\{(?:" + "|".join(sorted(PLACEHOLDERS)) + r")\})*")
# decimal(p,s) with p in 1..38; scale <= precision is a rule between two numbers.
_DECIMAL = _any_case("decimal") + r"\(\s*(?:[1-9]|[12][0-9]|3[0-8])\s*,\s*[0-9]{1,2}\s*\)"
_COLUMN_TYPE = _whole(r"\s*(?:" + "|".join(_any_case(t) for t in sorted(SIMPLE_TYPES)) + "|" + _DECIMAL + r")\s*")
# Printable ASCII without '?' and '#': request.url carries no query string or fragment.
# The host part has no '@' either: credentials in the URL are refused (the secret policy).
_URL = _whole(r"https?://[\x21\x22\x24-\x2e\x30-\x3e\x41-\x7e]+(?:/[\x21\x22\x24-\x3e\x40-\x7e]*)?")
_NO_LINE_BREAK = _whole(r"[^\r\n]*")

# validator function (by qualified name) -> the JSON Schema keywords it enforces.
_AFTER: dict[str, dict[str, Any]] = {
    "_check_name": {"pattern": _whole(NAME_RE.pattern.strip("^$")), "maxLength": NAME_MAX},
    "_check_templates": {"pattern": _TEMPLATE},
    "_check_column_type": {"pattern": _COLUMN_TYPE},
    "Request._url": {"pattern": _URL},
    "Request._headers": {
        "propertyNames": {"pattern": _whole(HEADER_NAME_RE.pattern.strip("^$"))},
        "additionalProperties": {"type": "string", "pattern": _NO_LINE_BREAK},
    },
}
# Before-validators widen what a YAML file may write.
_BEFORE: dict[str, JsonSchemaValue] = {
    # `limit: 10`, `flag: true`: numbers and booleans become text.
    "_param_to_text": {"type": ["string", "number", "boolean"]},
    # `method: get`
    "_upper": {"type": "string", "pattern": _whole(_any_case("GET") + "|" + _any_case("POST"))},
    # `sla: 45m`, `1h30m`, ISO 8601 (PT45M) or seconds.
    "_parse_duration": {"type": ["string", "number"]},
}


# Plain fields whose rule lives in a model validator, by ($defs model, property): the
# part of the rule one field can carry. An api_key auth's name must be a header name
# or a parameter name depending on `in`; either way these characters only.
_PROPERTY_EXTRA: dict[tuple[str, str], dict[str, Any]] = {
    ("ApiKeyAuth", "name"): {"pattern": _whole(r"[A-Za-z0-9_.\-]+")},
}


def _qualname(schema: Any) -> str:
    function = schema["function"]["function"]
    return str(getattr(function, "__qualname__", ""))


class _EndpointSchema(GenerateJsonSchema):
    def function_after_schema(self, schema: core_schema.AfterValidatorFunctionSchema) -> JsonSchemaValue:
        out = super().function_after_schema(schema)
        extra = _AFTER.get(_qualname(schema))
        return {**out, **extra} if extra else out

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        wider = _BEFORE.get(_qualname(schema))
        if wider is None:
            return super().function_before_schema(schema)
        return dict(wider)


def endpoint_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an endpoint config file."""
    schema = EndpointConfig.model_json_schema(schema_generator=_EndpointSchema)
    for (model, prop), extra in _PROPERTY_EXTRA.items():
        schema["$defs"][model]["properties"][prop].update(extra)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Lakehouse endpoint config",
        "description": "One HTTP/JSON endpoint: config/endpoints/<name>.yaml (docs/endpoints.md). "
        "Generated by `lakehouse schema` from lakehouse.endpoints.models; do not edit.",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_text() -> str:
    return json.dumps(endpoint_schema(), indent=2, sort_keys=False, ensure_ascii=True) + "\n"


def write_schema(path: Path) -> bool:
    """Write the schema to ``path``; True when the file changed."""
    text = schema_text()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
