"""Add inferred columns to an endpoint's YAML file in place (``lakehouse preview --write``).

ruamel.yaml's round-trip mode keeps what a person wrote: comments, key order, quoting
and flow style. A ``table`` section is added when there is none; an existing one keeps
its columns, and only paths it does not declare yet are appended. The new text is
validated as an endpoint config before the file is replaced, so a write never leaves
a config ``lakehouse validate`` refuses.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from lakehouse.endpoints.inference import InferredColumn
from lakehouse.endpoints.loader import parse_endpoint
from lakehouse.errors import EndpointConfigError


@dataclass(frozen=True)
class ColumnsWritten:
    path: Path
    added: tuple[str, ...]  # column names appended
    kept: int  # columns the file declared already
    new_table: bool


def _yaml() -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the author wrote on one
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _entry(column: InferredColumn) -> CommentedMap:
    entry = CommentedMap(column.as_config())
    entry.fa.set_flow_style()  # one line per column, as the shipped configs write them
    return entry


def with_columns(
    text: str, columns: Sequence[InferredColumn], namespace: str, table_name: str
) -> tuple[str, ColumnsWritten]:
    """``text`` with ``columns`` added to ``table.columns`` (a new ``table`` section in
    ``namespace`` named ``table_name`` when there is none)."""
    yaml = _yaml()
    doc = yaml.load(text)
    if not isinstance(doc, CommentedMap):
        raise EndpointConfigError("", [("", "the file is no mapping; an endpoint config starts with name:, request:")])
    table = doc.get("table")
    new_table = table is None
    if new_table:
        table = CommentedMap()
        table["namespace"] = namespace
        table["name"] = table_name
        table["columns"] = CommentedSeq()
        doc["table"] = table
    if not isinstance(table, CommentedMap):
        raise EndpointConfigError("", [("table", "is no mapping; fix it before adding columns")])
    declared = table.get("columns")
    if declared is None:
        declared = CommentedSeq()
        table["columns"] = declared
    kept = len(declared)
    paths = {str(c.get("path")) for c in declared if isinstance(c, dict)}
    names = {str(c.get("name")) for c in declared if isinstance(c, dict)}
    added = []
    for column in columns:
        if column.path in paths:
            continue
        name, n = column.name, 2
        while name in names:  # a declared column took the name for another path
            name = f"{column.name}_{n}"
            n += 1
        entry = _entry(column)
        entry["name"] = name
        declared.append(entry)
        names.add(name)
        added.append(name)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue(), ColumnsWritten(Path(), tuple(added), kept, new_table)


def write_columns(path: Path, columns: Sequence[InferredColumn], namespace: str) -> ColumnsWritten:
    """Add ``columns`` to the YAML file at ``path`` in place; EndpointConfigError (and
    the file untouched) when the result would not validate."""
    text = path.read_text(encoding="utf-8")
    current = parse_endpoint(text, str(path))
    new_text, result = with_columns(text, columns, namespace, current.name)
    parse_endpoint(new_text, f"{path} (with the inferred columns)")
    # Replace, never half-write: a new file beside it, then an atomic rename.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ColumnsWritten(path, result.added, result.kept, result.new_table)
