"""The command line shared by the job entry points (each runnable by spark-submit): the
Spark flags every job takes, the slot-time parser, and how a job exits.

Each job is a one-command typer app run through ``lakehouse.cli._errors.exit_code``,
like every other entry point, so ``main(argv) -> int`` stays callable from tests and
from ``run_job``; usage errors exit 2, as they did under argparse.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer

from lakehouse.cli._errors import exit_code
from lakehouse.config.settings import Settings, load_settings
from lakehouse.endpoints import slots
from lakehouse.engines.spark_conf import SessionOptions
from lakehouse.errors import LakehouseError, SlotError

# `-h` as well: the jobs' argparse parsers took it, and operators' habits did too.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def parse_slot(text: str) -> datetime:
    """An aware slot time, e.g. 2025-03-01T12:15:00Z, in UTC: the core's parser
    (lakehouse.endpoints.slots.parse_slot) as a typer option parser. Naive times are still
    refused here (tests/unit/spark_jobs asserts it); the core's own rule reads them as UTC."""
    try:
        return slots.parse_slot(text, option="time", naive="refuse")
    except SlotError as exc:
        raise typer.BadParameter(str(exc)) from exc


# The flags every job takes (typer reads them from each command's signature).
Profile = Annotated[
    str | None, typer.Option("--profile", help="settings profile (default: $LAKEHOUSE_PROFILE or local)")
]
Master = Annotated[str | None, typer.Option("--master", help="Spark master (default: settings spark.master)")]
Ui = Annotated[bool, typer.Option("--ui", help="enable the Spark web UI")]
Remote = Annotated[
    str | None,
    typer.Option(
        "--remote",
        metavar="sc://HOST:PORT",
        help="run on this Spark Connect server (default: settings spark.connect_url when "
        "spark.engine is connect; --master runs a driver here instead)",
    ),
]


def job_app(doc: str | None) -> typer.Typer:
    """A one-command app for a job; its help is the first line of the job's docstring."""
    return typer.Typer(
        add_completion=False,
        help=doc.splitlines()[0] if doc else None,
        context_settings=CONTEXT_SETTINGS,
        pretty_exceptions_enable=False,
    )


def run_app(app: typer.Typer, argv: list[str] | None, job: str) -> int:
    return exit_code(app, argv, prog_name=f"{job}.py")


def settings_and_options(
    app_name: str, *, profile: str | None, master: str | None, ui: bool, remote: str | None
) -> tuple[Settings, SessionOptions]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return load_settings(profile), SessionOptions(app_name=app_name, master=master, ui=ui, remote=remote)


def run_main(main: Callable[[], int]) -> None:
    """Exit with the job's status; a LakehouseError prints its message (which says what
    to do next) without the stack trace that would bury it in the driver log. Spark
    Connect failures (refused token, server gone) become named errors first."""
    from spark_jobs.session import translate_connect_errors

    try:
        with translate_connect_errors():
            code = main()
    except LakehouseError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code)


def run_job(job: str, argv: list[str], settings: Settings) -> int:
    """Run ``spark_jobs/<job>.py`` in this process, as its entry point would, on the
    settings' Spark Connect server: what an Airflow transform task does with
    ``spark.engine: connect``. Connect failures surface as named errors;
    SparkEngineUnavailableError is the retryable one."""
    import importlib

    from spark_jobs.session import translate_connect_errors
    from spark_jobs.submit import job_path

    job_path(job)  # a ValueError naming the known jobs, for a typo
    module = importlib.import_module(f"spark_jobs.{job}")
    url = settings.spark.connect_url
    assert url, "settings always carry a connect_url (the local stack's by default)"
    with translate_connect_errors(settings, url):
        return int(module.main([*argv, "--remote", url]))
