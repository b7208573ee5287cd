"""The one YAML loader for files a user or a deployment provides (endpoint configs,
stack profiles): PyYAML's safe loader, stricter.

- Anchors and aliases are refused. An alias is a reference, so 1 KB of nested aliases
  ("billion laughs") stands for 10^7 nodes; every consumer that walks the result
  (pydantic, the field-path lookup, a hash of the config) would expand it, and the
  worker loads an endpoint's config on every lease. Configs are short enough to write
  out in full.
- Nesting deeper than :data:`MAX_DEPTH` is refused: PyYAML composes recursively, so
  a deep ``[[[[...`` file would end in a RecursionError rather than a named error.
- A key given twice in one mapping is refused (PyYAML keeps the last one silently).

Errors are :class:`UnsafeYAMLError` subclasses of PyYAML's ``MarkedYAMLError``: every
caller that reports a YAML syntax error with its line and column reports these too.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from yaml.composer import ComposerError
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent

# Endpoint configs nest about six levels deep; this leaves room and stays far below
# Python's recursion limit (PyYAML uses a few frames per level).
MAX_DEPTH = 64


class UnsafeYAMLError(ComposerError):
    """A YAML construct the project's config files may not use."""


class YAMLAliasError(UnsafeYAMLError):
    def __init__(self, event: NodeEvent) -> None:
        kind = "alias *" if isinstance(event, AliasEvent) else "anchor &"
        super().__init__(
            None,
            None,
            f"YAML anchors and aliases are not allowed (found {kind}{event.anchor}): write the value out in full",
            cast(yaml.error.Mark, event.start_mark),
        )


class YAMLNestingError(UnsafeYAMLError):
    def __init__(self, event: NodeEvent) -> None:
        super().__init__(
            None,
            None,
            f"the document nests more than {MAX_DEPTH} levels deep; a config never needs that many",
            cast(yaml.error.Mark, event.start_mark),
        )


class _ConfigLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # Checked before PyYAML resolves the alias or records the anchor: nothing is
        # built from a refused construct.
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise YAMLAliasError(event)
        if isinstance(event, CollectionStartEvent):
            if self._depth >= MAX_DEPTH:
                raise YAMLNestingError(event)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)


def _construct_mapping(loader: _ConfigLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: let PyYAML report it
            break
        if first is not None:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"duplicate key {key!r} (first set on line {first})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_ConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """One YAML document as Python data plus its node tree (for the line of a field);
    (None, None) for an empty document. Raises ``yaml.YAMLError`` (``MarkedYAMLError``
    with the line, :class:`UnsafeYAMLError` for what this loader refuses)."""
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        return data, node
    finally:
        loader.dispose()


def load_yaml(text: str) -> Any:
    """:func:`parse_yaml` without the node tree."""
    return parse_yaml(text)[0]


def describe_error(exc: yaml.YAMLError) -> tuple[str, str]:
    """(where, what) of a YAML error: ``line L, column C`` (empty when unknown) and the
    problem in PyYAML's words."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return where, " ".join(p for p in (exc.context, exc.problem) if p)
    return "", str(exc)
