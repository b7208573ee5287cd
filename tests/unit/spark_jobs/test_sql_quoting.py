"""Every name in Spark SQL text goes through spark_jobs.tables.quote_parts and every
value through sql_string: a backtick, a quote, a dot, a space or a non-ASCII letter in a
name (one the catalog lists) stays inside its identifier. (The integration test
tests/integration/spark_jobs/test_spark_maintenance.py runs the same names through
Spark's own parser and a real catalog.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from lakehouse.endpoints import Table
from spark_jobs import maintenance
from spark_jobs.maintenance import MaintenancePolicy
from spark_jobs.merge import _newer
from spark_jobs.tables import columns_ddl, quote, quote_parts, sql_string

pytestmark = pytest.mark.unit

# Spark's lexer: BACKQUOTED_IDENTIFIER '`' (~'`' | '``')* '`'; STRING '\'' (~('\''|'\\') | '\\' .)* '\''
_TOKEN = re.compile(r"`((?:[^`]|``)*)`|'((?:[^'\\]|\\.)*)'|([^`']+)", re.S)


def _lex(sql: str) -> list[tuple[str, str]]:
    """(kind, text) tokens of ``sql`` the way Spark splits identifiers and strings off;
    fails on an unterminated quote (what an unescaped name produces)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        assert m is not None and m.end() > pos, f"unterminated quote at {pos}: {sql[pos:]!r}"
        if m.group(1) is not None:
            tokens.append(("ident", m.group(1).replace("``", "`")))
        elif m.group(2) is not None:
            tokens.append(("string", re.sub(r"\\(.)", r"\1", m.group(2))))
        else:
            tokens.append(("sql", m.group(3)))
        pos = m.end()
    return tokens


def _identifier(text: str) -> list[str]:
    """The parts of a multipart identifier made only of quoted parts and dots."""
    tokens = _lex(text)
    assert [k for k, _ in tokens] == ["ident", "sql"] * (len(tokens) // 2) + ["ident"], tokens
    assert all(t == "." for k, t in tokens if k == "sql"), tokens
    return [t for k, t in tokens if k == "ident"]


HOSTILE = [
    "plain",
    "min",  # a keyword
    "with`backtick",
    "``",
    "`; DROP TABLE market.trades; --",
    "a.b",
    "with space",
    "quote'and\\backslash",
    "ünïcödé_名前",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_quoted_part_is_exactly_its_name(name: str) -> None:
    assert _identifier(quote_parts("default", name)) == ["default", name]


def test_quote_examples() -> None:
    assert quote_parts("ns", "a`b") == "`ns`.`a``b`"
    assert quote_parts("ns", "a.b") == "`ns`.`a.b`"  # a dot inside a part stays in it
    assert quote("market.trades") == "`market`.`trades`"
    assert quote_parts("x y") == "`x y`"
    with pytest.raises(ValueError):
        quote_parts()


@pytest.mark.parametrize("value", ["plain", "it's", "back\\slash", "\\'", "'; DROP TABLE t; --", "ünï"])
def test_a_string_literal_is_exactly_its_value(value: str) -> None:
    assert _lex(sql_string(value)) == [("string", value)]


class _RecordingSpark:
    """Answers maintenance's statements like an Iceberg catalog would, and keeps them."""

    def __init__(self, listed: list[str]) -> None:
        self.listed = listed
        self.statements: list[str] = []

    def sql(self, statement: str) -> Any:
        self.statements.append(statement)
        if statement.startswith("SHOW TABLES"):
            rows = [SimpleNamespace(tableName=name) for name in self.listed]
        elif statement.startswith("SHOW TBLPROPERTIES"):
            rows = [SimpleNamespace(key="gc.enabled", value="true")]
        elif statement.startswith("SELECT count"):
            rows = [SimpleNamespace(n=1)]
        elif "rewrite_data_files" in statement:
            rows = [SimpleNamespace(rewritten_data_files_count=0, added_data_files_count=0)]
        else:
            rows = [SimpleNamespace(deleted_data_files_count=0)]
        return SimpleNamespace(collect=lambda: rows, first=lambda: rows[0])


def test_maintenance_quotes_catalog_listed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name the catalog lists reaches each statement as one identifier part (and,
    for the procedures, as one quoted identifier inside one string literal); before,
    ``x`; DROP ...`` ended the identifier early and the rest was SQL."""
    listed = ["`; DROP TABLE market.trades; --", "a.b", "it's"]
    monkeypatch.setattr(maintenance, "required_namespaces", lambda settings: ["default"])
    settings = SimpleNamespace(catalog=SimpleNamespace(name="lakehouse"))
    spark = _RecordingSpark(listed)
    results = maintenance.run(
        spark,  # type: ignore[arg-type]
        settings,  # type: ignore[arg-type]
        policy=MaintenancePolicy(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert [r.table for r in results] == [f"default.{name}" for name in listed]
    seen: list[list[str]] = []
    for statement in spark.statements:
        tokens = _lex(statement)
        for kind, text in tokens:
            if kind == "sql":
                assert "DROP" not in text, statement
        idents = [t for k, t in tokens if k == "ident"]
        strings = [t for k, t in tokens if k == "string"]
        if "system." in statement:  # CALL <catalog>.system.proc(table => '<identifier>', ...)
            assert idents == ["lakehouse"], statement
            seen.append(_identifier(strings[0]))
        elif not statement.startswith("SHOW TABLES"):
            seen.append(idents[:2])
    assert sorted({tuple(s) for s in seen}) == sorted({("default", name) for name in listed})


def test_merge_condition_and_column_ddl_quote_their_names() -> None:
    table = Table.model_validate(
        {
            "namespace": "shop",
            "name": "orders",
            "write": "merge",
            "primary_key": ["id"],
            "order_by": "version",
            "columns": [
                {"name": "id", "path": "id", "type": "long", "required": True},
                {"name": "version", "path": "v", "type": "int", "required": True},
            ],
        }
    )
    assert [t for k, t in _lex(columns_ddl(table)) if k == "ident"] == ["id", "version"]
    assert {t for k, t in _lex(_newer(table)) if k == "ident"} == {"version", "min"}


def test_columns_ddl_uses_spark_types():
    table = Table.model_validate(
        {
            "namespace": "market",
            "name": "trades",
            "columns": [
                {"name": "trade_id", "path": "id", "type": "long", "required": True},
                {"name": "price", "path": "price", "type": "decimal(10,2)"},
                {"name": "qty", "path": "qty", "type": "double"},
                {"name": "traded_at", "path": "time", "type": "timestamp", "format": "epoch_ms"},
            ],
        }
    )
    assert columns_ddl(table).startswith(
        "`trade_id` bigint, `price` decimal(10,2), `qty` double, `traded_at` timestamp"
    )
