"""The job entry points' command lines (typer): the argument lists the Airflow DAGs, the
Connect runner and the benchmarks build reach each job's ``run`` with the same
meaning, defaults and exit codes they had under argparse; no Spark is started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from spark_jobs import daily_aggregate, maintenance, partitioned_data, raw_to_table, static_data
from spark_jobs.maintenance import MaintenancePolicy

pytestmark = pytest.mark.unit


class Calls:
    """What a job's main handed to settings, the session and its run."""

    def __init__(self) -> None:
        self.flags: dict[str, Any] = {}
        self.app_name = ""
        self.run: tuple[Any, ...] = ()
        self.run_kwargs: dict[str, Any] = {}
        self.stopped = False


@pytest.fixture()
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    seen = Calls()

    def settings_and_options(app_name: str, **flags: Any) -> tuple[str, str]:
        seen.app_name, seen.flags = app_name, flags
        return "SETTINGS", "OPTIONS"

    def stop() -> None:
        seen.stopped = True

    def run(*args: Any, **kwargs: Any) -> None:
        seen.run, seen.run_kwargs = args, kwargs

    job: ModuleType
    for job in (raw_to_table, daily_aggregate, maintenance, partitioned_data, static_data):
        monkeypatch.setattr(job, "settings_and_options", settings_and_options)
        monkeypatch.setattr(job, "build_session", lambda settings, options: SimpleNamespace(stop=stop))
        monkeypatch.setattr(job, "run", run)
    config = SimpleNamespace(table=SimpleNamespace(identifier="market.e"))
    monkeypatch.setattr(raw_to_table, "endpoint_by_name", lambda name, directory: (name, directory))
    monkeypatch.setattr(daily_aggregate, "load_endpoint", lambda path: config)
    monkeypatch.setattr(daily_aggregate, "endpoint_path", lambda name, directory: name)
    monkeypatch.setattr(daily_aggregate, "check_sums", lambda config, sums: None)
    return seen


NO_FLAGS = {"profile": None, "master": None, "ui": False, "remote": None}


def test_raw_to_table_runs_as_the_transform_task_and_the_connect_runner_call_it(calls: Calls) -> None:
    argv = ["--endpoint", "e", "--run", "raw/a/", "--run", "s3://b/raw/b/_manifest.json"]
    assert raw_to_table.main([*argv, "--remote", "sc://127.0.0.1:15002"]) == 0
    assert calls.app_name == "raw_to_table:e"
    assert calls.flags == {**NO_FLAGS, "remote": "sc://127.0.0.1:15002"}
    assert calls.run[1:] == ("SETTINGS", ("e", None), ["raw/a/", "s3://b/raw/b/_manifest.json"], None)
    assert calls.run_kwargs == {"batch_rows": raw_to_table.DEFAULT_BATCH_ROWS}
    assert calls.stopped


def test_raw_to_table_backfills_a_window_of_aware_slots(calls: Calls, tmp_path) -> None:
    argv = ["--endpoint", "e", "--endpoints-dir", str(tmp_path), "--from", "2025-03-01T00:00Z"]
    argv += ["--to", "2025-03-01T03:00+02:00", "--batch-rows", "500", "--profile", "p", "--master", "local[1]", "--ui"]
    assert raw_to_table.main(argv) == 0
    assert calls.flags == {"profile": "p", "master": "local[1]", "ui": True, "remote": None}
    _, _, endpoint, runs, slot_range = calls.run
    assert endpoint == ("e", tmp_path)
    assert runs == []
    assert slot_range == (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 1, 1, tzinfo=UTC))
    assert calls.run_kwargs == {"batch_rows": 500}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "Missing option '--endpoint'"),
        (["--endpoint", "e"], "give --run (one or more) or --from/--to"),
        (["--endpoint", "e", "--from", "2025-03-01T00:00Z"], "--from and --to go together"),
        (["--endpoint", "e", "--to", "2025-03-01T00:00Z"], "--from and --to go together"),
        # A naive time is refused: the job would not guess a zone.
        (["--endpoint", "e", "--from", "2025-03-01T00:00", "--to", "2025-03-01T01:00Z"], "has no time zone"),
        (["--endpoint", "e", "--run", "r", "--batch-rows", "many"], "--batch-rows"),
        (["--endpoint", "e", "--run", "r", "--no-such-flag"], "No such option"),
    ],
)
def test_raw_to_table_usage_errors_exit_2_before_anything_runs(
    calls: Calls, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert raw_to_table.main(argv) == 2
    assert message in capsys.readouterr().err
    assert calls.run == ()


def test_daily_aggregate_as_the_downstream_dag_calls_it(calls: Calls) -> None:
    argv = ["--endpoint", "e", "--days", "2026-11-25,2026-11-24", "--sum", "qty", "--sum", "quote_qty"]
    assert daily_aggregate.main(argv) == 0
    assert calls.app_name == "daily_aggregate:e"
    assert calls.run[1:] == ("market.e", ["qty", "quote_qty"], ["2026-11-24", "2026-11-25"])
    assert daily_aggregate.main(["--endpoint", "e", "--days", "all"]) == 0
    assert calls.run[1:] == ("market.e", [], None)


def test_daily_aggregate_with_no_day_runs_nothing_and_a_bad_day_is_a_usage_error(
    calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    assert daily_aggregate.main(["--endpoint", "e", "--days", ""]) == 0
    assert calls.run == ()
    assert daily_aggregate.main(["--endpoint", "e", "--days", "2026-13-01"]) == 2
    assert "--days: month must be in 1..12" in capsys.readouterr().err
    assert daily_aggregate.main(["--endpoint", "e"]) == 2


def test_maintenance_defaults_to_every_table_and_the_policy_defaults(calls: Calls) -> None:
    assert maintenance.main([]) == 0
    _, _, tables, policy = calls.run
    assert tables is None  # every table, not none
    assert policy == MaintenancePolicy()
    argv = ["--table", "market.a", "--table", "market.b", "--min-input-files", "3"]
    argv += ["--older-than-days", "1.5", "--retain-last", "20", "--no-expire"]
    assert maintenance.main(argv) == 0
    _, _, tables, policy = calls.run
    assert tables == ["market.a", "market.b"]
    assert policy == MaintenancePolicy(
        min_input_files=3, expire=False, expire_older_than=timedelta(days=1.5), retain_last=20
    )


def test_partitioned_data_takes_the_dags_aware_slot_and_refuses_a_naive_one(
    calls: Calls, capsys: pytest.CaptureFixture[str]
) -> None:
    # What `{{ data_interval_start.isoformat() }}` renders to.
    assert partitioned_data.main(["--slot", "2025-03-01T12:15:00+00:00"]) == 0
    assert calls.run[1:] == ("SETTINGS", datetime(2025, 3, 1, 12, 15, tzinfo=UTC), partitioned_data.DEFAULT_TABLE)
    calls.run = ()
    assert partitioned_data.main(["--slot", "2025-03-01T12:15:00"]) == 2
    assert "has no time zone" in capsys.readouterr().err
    assert calls.run == ()


def test_static_data_and_help(calls: Calls, capsys: pytest.CaptureFixture[str]) -> None:
    assert static_data.main(["--table", "default.x"]) == 0
    assert calls.run[1:] == ("SETTINGS", "default.x")
    for flag in ("-h", "--help"):
        assert static_data.main([flag]) == 0
    out = capsys.readouterr().out
    assert "--remote" in out and "--table" in out


def test_a_named_error_exits_2_with_its_message_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lakehouse.errors import LakehouseError
    from spark_jobs.cli import run_main

    def fails() -> int:
        raise LakehouseError("the catalog is down: start it")

    with pytest.raises(SystemExit) as exited:
        run_main(fails)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error: LakehouseError: the catalog is down: start it" in err
    assert "Traceback" not in err
