"""Paths into JSON responses and records: ``extract(obj, "data.items")``.

JMESPath (the ``jmespath`` package, already installed with boto3) rather than a
hand-written dotted-path walker: a plain dotted path *is* a JMESPath expression, so
the simple case reads the same, and the crawler and the Spark job get nesting,
list indexes (``data[0].id``) and quoted keys (``"x-total-count"``) from one
well-kept, specified implementation. Expressions are compiled once and cached.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult


class JsonPathError(ValueError):
    """A path expression does not parse. A ValueError, so pydantic reports it as a field error."""


@lru_cache(maxsize=512)
def compile_path(path: str) -> ParsedResult:
    try:
        return jmespath.compile(path)
    except JMESPathError as exc:
        raise JsonPathError(
            f"{path!r} is not a valid path: {exc}. Use dotted keys (data.items), "
            'list indexes (data[0]) and double quotes around keys with dashes ("x-total")'
        ) from exc


def check_path(path: str) -> str:
    """Validate ``path`` (empty means the whole document) and return it unchanged."""
    if path.strip():
        compile_path(path.strip())
    return path.strip()


def extract(obj: Any, path: str) -> Any:
    """The value at ``path`` in ``obj``; the whole ``obj`` for an empty path.

    A missing key gives None (JMESPath cannot tell it from an explicit null); callers
    that need a list treat None as "not there" and say so.
    """
    if not path:
        return obj
    return compile_path(path).search(obj)
