"""Parent/child rules: within one config, across files (missing parent, cycles,
schedules), and how parent records become child requests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from lakehouse.endpoints import EndpointConfig, validate_all
from lakehouse.endpoints.parent_rules import child_url
from lakehouse.pipeline.dependents import ParentRecordError, keys_of, parent_manifest_key
from lakehouse.queue.jobs import run_id_for
from lakehouse.raw.layout import manifest_key, run_prefix

pytestmark = pytest.mark.unit


def doc(name: str, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "request": {"url": f"http://127.0.0.1:1/{name}" + ("/{pid}" if parent else "")},
        "rate_limit": {"requests_per_second": 5},
        "schedule": "*/15 * * * *",
    }
    if parent:
        out["parent"] = {"endpoint": parent, "field": "id", "placeholder": "pid"}
    return out | extra


def test_the_placeholder_must_be_in_the_url_and_no_endpoint_is_its_own_parent() -> None:
    bad = doc("items", "orders")
    bad["request"]["url"] = "http://127.0.0.1:1/items"
    with pytest.raises(ValidationError, match=r"request.url must contain \{pid\}"):
        EndpointConfig.model_validate(bad)
    with pytest.raises(ValidationError, match="cannot be its own parent"):
        EndpointConfig.model_validate(doc("items", "items"))


def test_a_missing_parent_a_cycle_and_a_schedule_mismatch_are_validation_errors(tmp_path: Path) -> None:
    docs = [
        doc("orders"),
        doc("items", "orders"),
        doc("orphan", "nobody"),
        doc("loop_a", "loop_b"),
        doc("loop_b", "loop_a"),
        doc("hourly", "orders", schedule="0 * * * *"),
        doc("grandchild", "orphan"),
    ]
    for d in docs:
        (tmp_path / f"{d['name']}.yaml").write_text(yaml.safe_dump(d))
    configs, errors = validate_all(tmp_path)
    assert sorted(c.name for c in configs) == ["items", "orders"]
    said = {Path(e.file).stem: str(e) for e in errors}
    assert "no valid endpoint config 'nobody'" in said["orphan"]
    assert "parent cycle: loop_a -> loop_b -> loop_a" in said["loop_a"]
    assert "parent cycle" in said["loop_b"]
    assert "share the schedule" in said["hourly"]
    assert "'orphan' is itself invalid" in said["grandchild"]


def test_parent_values_and_the_childs_urls() -> None:
    assert keys_of([{"id": 7}, {"id": 8.0}, {"id": "a/b"}], "id", 1) == ["7", "8", "a/b"]
    with pytest.raises(ParentRecordError, match="record 2"):
        keys_of([{"id": 1}, {"name": "x"}], "id", 3)
    assert child_url("http://h/o/{pid}/items", "pid", "a/b c") == "http://h/o/a%2Fb%20c/items"
    slot = EndpointConfig.model_validate(doc("orders")).start_date
    start = datetime(slot.year, slot.month, slot.day, tzinfo=UTC)
    child_prefix = run_prefix("raw/base", "items", start, run_id_for("items", start))
    assert parent_manifest_key(child_prefix, "items", "orders", start) == manifest_key(
        run_prefix("raw/base", "orders", start, run_id_for("orders", start))
    )
