"""lakehouse/transform/arrow_overwrite.py without services: the slots filter and which
failures are the catalog or the object store being unreachable."""

from __future__ import annotations

import pytest
import requests
from pyiceberg.exceptions import CommitFailedException, CommitStateUnknownException, ValidationException
from pyiceberg.expressions import And, EqualTo, Or

from lakehouse.config.settings import load_settings
from lakehouse.transform.arrow_overwrite import (
    RowLevelDeletesError,
    _surely_not_committed,
    _unreachable_service,
    slots_expression,
)
from lakehouse.transform.partitions import SlotPartition

A = SlotPartition("2025-03-01", 12, 15)
B = SlotPartition("2025-03-01", 12, 30)


def _slot(s: SlotPartition) -> And:
    return And(EqualTo("ds", s.ds), EqualTo("hr", s.hr), EqualTo("min", s.min))  # type: ignore[call-arg]


def test_slots_expression_is_one_term_per_distinct_slot() -> None:
    assert slots_expression([A]) == _slot(A)
    assert slots_expression([A, B, A]) == Or(_slot(A), _slot(B))
    with pytest.raises(ValueError, match="at least one slot"):
        slots_expression([])


@pytest.mark.parametrize(
    ("exc", "service"),
    [
        (requests.ConnectionError("Connection refused"), "the Iceberg catalog (Nessie)"),
        (CommitStateUnknownException("503"), "the Iceberg catalog (Nessie)"),
        (OSError("When uploading part: AWS Error NETWORK_CONNECTION during UploadPart"), "the object store (S3)"),
        (OSError("disk full"), None),
        (ValueError("a bug"), None),
    ],
)
def test_unreachable_services_are_named(exc: BaseException, service: str | None) -> None:
    found = _unreachable_service(exc, load_settings())
    assert (found[0] if found else None) == service


def test_only_a_refused_commit_lets_the_new_files_be_deleted() -> None:
    assert _surely_not_committed(CommitFailedException("lost the race 30 times"))
    assert _surely_not_committed(ValidationException("conflict in the slot"))
    assert _surely_not_committed(RowLevelDeletesError("ns.t", [A]))
    # The commit may have landed: its files may be the table's now.
    assert not _surely_not_committed(CommitStateUnknownException("504"))
    assert not _surely_not_committed(requests.ConnectionError("reset"))
