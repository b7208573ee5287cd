"""Running a Spark job in this process without the caller importing the Spark adapter.

The Airflow adapter's Connect transform task is a Spark Connect client in its own task
process, which saves a Python and pyspark start per slot. Importing ``spark_jobs``
from ``lakehouse_airflow`` would couple two adapters, so the Spark adapter plugs its
runner in through an entry point (group ``lakehouse.spark_jobs``, name ``run``; see
pyproject.toml), the way Scrapy plugs components in through settings: the caller
names the contract, the installed distribution supplies the implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings

ENTRY_POINT_GROUP = "lakehouse.spark_jobs"
RUNNER_NAME = "run"

Runner = Callable[[str, list[str], "Settings"], int]


class SparkJobRunnerMissingError(LakehouseError):
    def __init__(self) -> None:
        super().__init__(
            f"no Spark job runner is installed (entry point group {ENTRY_POINT_GROUP!r}, name "
            f"{RUNNER_NAME!r}): install the project (`./init.sh`, or `pip install -e .`) so the "
            "spark_jobs package registers it, or set spark.engine: submit."
        )


def runner() -> Runner:
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=RUNNER_NAME):
        loaded: Runner = ep.load()
        return loaded
    raise SparkJobRunnerMissingError()


def run_spark_job(job: str, argv: Sequence[str], settings: Settings) -> int:
    """Run ``spark_jobs/<job>.py`` in this process on the settings' Spark Connect server."""
    return runner()(job, list(argv), settings)
