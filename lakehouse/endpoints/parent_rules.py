"""The config rules of a dependent endpoint (``parent:``): within one config, checked by
EndpointConfig's validator, and across the files of a directory, checked by the loader;
and the child's URL for one parent value. Reading the parent's landing at run time is
lakehouse.pipeline.dependents."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from lakehouse.errors import EndpointConfigError

if TYPE_CHECKING:
    from lakehouse.endpoints.models import EndpointConfig


def config_problem(config: EndpointConfig) -> str | None:
    """Why ``config.parent`` cannot work with the rest of this one config, or None."""
    parent = config.parent
    assert parent is not None
    if parent.endpoint == config.name:
        return f"parent.endpoint: {config.name!r} cannot be its own parent"
    token = "{" + parent.placeholder + "}"
    if token not in config.request.url:
        return f"parent.placeholder: request.url must contain {token}, where each parent record's {parent.field} goes"
    if token in urlsplit(config.request.url).netloc:
        # A parent record would choose the host that receives the credential.
        return f"parent.placeholder: {token} must be in request.url's path, not its host or port"
    return None


def graph_problems(configs: Iterable[tuple[Path, EndpointConfig]]) -> dict[Path, list[tuple[str, str]]]:
    """Rules across files: the parent exists, shares the schedule, and no chain of
    parents loops back. Problems keyed by the child's file."""
    by_name = {config.name: (path, config) for path, config in configs}
    problems: dict[Path, list[tuple[str, str]]] = {}
    for name, (path, config) in by_name.items():
        if config.parent is None:
            continue
        found = by_name.get(config.parent.endpoint)
        if found is None:
            problems.setdefault(path, []).append(
                (
                    "parent.endpoint",
                    f"no valid endpoint config {config.parent.endpoint!r} in this directory; "
                    "add it (or fix its errors) or correct the name",
                )
            )
            continue
        if found[1].schedule != config.schedule:
            problems.setdefault(path, []).append(
                (
                    "schedule",
                    f"{config.schedule!r} differs from parent {found[1].name}'s {found[1].schedule!r}; "
                    "a child reads its parent's landing of the same slot, so they share the schedule",
                )
            )
        chain = [name]
        current: EndpointConfig | None = config
        while current is not None and current.parent is not None:
            step = current.parent.endpoint
            if step in chain:
                loop = " -> ".join([*chain[chain.index(step) :], step])
                problems.setdefault(path, []).append(("parent.endpoint", f"parent cycle: {loop}; break the loop"))
                break
            chain.append(step)
            entry = by_name.get(step)
            current = entry[1] if entry else None
    return problems


def validated(
    configs: list[EndpointConfig], loaded: list[tuple[Path, EndpointConfig]], source: Any
) -> tuple[list[EndpointConfig], list[EndpointConfigError]]:
    """``configs`` without the ones whose parent rules fail, and one error per such file
    (``source`` renders a path as the loader names files)."""
    names = {c.name for c in configs}
    problems = graph_problems([(p, c) for p, c in loaded if c.name in names])
    bad = {c.name for p, c in loaded if p in problems}
    # A child of a refused parent is refused too: its DAG would wait forever.
    changed = True
    while changed:
        changed = False
        for path, config in loaded:
            if config.parent and config.parent.endpoint in bad and config.name not in bad and config.name in names:
                bad.add(config.name)
                problems.setdefault(path, []).append(
                    ("parent.endpoint", f"parent {config.parent.endpoint!r} is itself invalid; fix it first")
                )
                changed = True
    errors = [EndpointConfigError(source(path), found) for path, found in problems.items()]
    return [c for c in configs if c.name not in bad], errors


def child_url(url: str, placeholder: str, key: str) -> str:
    """The child's URL for one parent value, percent-encoded as one path segment."""
    return url.replace("{" + placeholder + "}", quote(key, safe=""))
