"""The core finds the Spark adapter's job runner through its entry point."""

from __future__ import annotations

import pytest

from lakehouse.engines import spark_jobs_runner


def test_the_installed_runner_is_the_spark_adapters() -> None:
    runner = spark_jobs_runner.runner()
    assert (runner.__module__, runner.__name__) == ("spark_jobs.cli", "run_job")


def test_a_missing_runner_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spark_jobs_runner, "entry_points", lambda **_: [])
    with pytest.raises(spark_jobs_runner.SparkJobRunnerMissingError, match=r"init\.sh.*spark\.engine: submit"):
        spark_jobs_runner.run_spark_job("raw_to_table", [], None)  # type: ignore[arg-type]
