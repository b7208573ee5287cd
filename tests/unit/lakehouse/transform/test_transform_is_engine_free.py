"""lakehouse/transform is engine-free: no engine (Spark, Scrapy, Airflow) imported
anywhere in it, not even inside a function, and nothing of spark_jobs/. The core's
general rules are tests/unit/test_import_graph.py's."""

from __future__ import annotations

import pytest

from tests.unit.test_import_graph import ROOT, imports_of

pytestmark = pytest.mark.unit

ENGINES = {"pyspark", "py4j", "scrapy", "twisted", "airflow", "spark_jobs", "scrapworker", "lakehouse_airflow"}


def test_the_transform_imports_no_engine_anywhere():
    found = [
        f"{path.relative_to(ROOT)}:{line}: imports {imported}"
        for path in sorted((ROOT / "lakehouse" / "transform").rglob("*.py"))
        for line, imported, _ in imports_of(ROOT, path)
        if imported.split(".")[0] in ENGINES
    ]
    assert not found, "\n".join(found)
    assert len(list((ROOT / "lakehouse" / "transform").glob("*.py"))) > 10  # the package is there to check
