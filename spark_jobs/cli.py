"""Argument parsing shared by the job entry points (each runnable by spark-submit)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import datetime

from lakehouse.config.settings import Settings, load_settings
from lakehouse.endpoints import slots
from lakehouse.engines.spark_conf import SessionOptions
from lakehouse.errors import LakehouseError, SlotError


def parse_slot(text: str) -> datetime:
    """An aware slot time, e.g. 2025-03-01T12:15:00Z, in UTC: the core's parser
    (lakehouse.endpoints.slots.parse_slot) as an argparse type. Naive times are still refused
    here (tests/unit/spark_jobs asserts it); the core's own rule reads them as UTC."""
    try:
        return slots.parse_slot(text, option="time", naive="refuse")
    except SlotError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", default=None, help="settings profile (default: $LAKEHOUSE_PROFILE or local)")
    parser.add_argument("--master", default=None, help="Spark master (default: settings spark.master)")
    parser.add_argument("--ui", action="store_true", help="enable the Spark web UI")
    parser.add_argument(
        "--remote",
        default=None,
        metavar="sc://HOST:PORT",
        help="run on this Spark Connect server (default: settings spark.connect_url when "
        "spark.engine is connect; --master runs a driver here instead)",
    )
    return parser


def settings_and_options(args: argparse.Namespace, app_name: str) -> tuple[Settings, SessionOptions]:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return load_settings(args.profile), SessionOptions(
        app_name=app_name, master=args.master, ui=args.ui, remote=args.remote
    )


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
