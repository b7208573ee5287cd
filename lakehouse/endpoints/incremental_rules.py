"""The config rule of an incremental endpoint (``incremental:``), checked by
EndpointConfig's validator; what the cursor does at run time is in
lakehouse.queue.cursor (the worker's side) and lakehouse.pipeline.incremental (the
producer's plan, read from the landings in S3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.endpoints.models import EndpointConfig


def config_problem(config: EndpointConfig) -> str | None:
    """Why ``config.incremental`` cannot work with the rest of the config, or None."""
    inc = config.incremental
    assert inc is not None
    if config.parent is not None:
        return "incremental and parent do not combine: a dependent endpoint follows its parent's slot"
    if clash := sorted(inc.query_params() & (set(config.request.params) | config.pagination.query_params())):
        return (
            f"incremental: {', '.join(clash)} is also set by request.params or pagination; "
            "the cursor parameter is sent by the crawler alone"
        )
    return None
