from __future__ import annotations

import pytest

from lakehouse.tables.merge_log import MergeCountMismatchError, MergeLogEntry, check

pytestmark = pytest.mark.unit


def test_records_plus_quarantined_must_equal_the_manifest() -> None:
    entry = MergeLogEntry("r1", records=9, keys=4)
    check("shop.orders", "r1", expected=10, entry=entry, quarantined=1, held=4)
    check("shop.orders", "r1", expected=10, entry=entry, quarantined=1, held=0)  # all superseded later
    with pytest.raises(MergeCountMismatchError, match="delivered 9 records with 4 distinct key"):
        check("shop.orders", "r1", expected=11, entry=entry, quarantined=1, held=4)


def test_more_rows_of_a_run_than_its_keys_is_a_duplicate_key() -> None:
    with pytest.raises(MergeCountMismatchError, match="at most one row per key"):
        check("shop.orders", "r1", expected=10, entry=MergeLogEntry("r1", 10, 4), quarantined=0, held=5)
