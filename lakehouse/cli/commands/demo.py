"""`lakehouse demo`: the main job on the embedded stack.

Brings up the stack with the sandbox API and a scrapworker, runs the
`ingest_sandbox_trades` DAG through Airflow (`airflow dags test`, one run per
slot) for the most recent complete slots, then prints what landed and a sample
query. A slot that already landed completely is not run again, so a second demo
is quick and lands nothing twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from lakehouse.config.settings import Settings, load_settings

if TYPE_CHECKING:
    from lakehouse.endpoints import EndpointConfig

# Piped or logged output gets a width that fits a run_id and a raw path on one line.
console = Console() if sys.stdout.isatty() else Console(width=180)

ENDPOINT = "sandbox_trades"


def _slot_state(settings: Settings, config: EndpointConfig, slot_start: datetime) -> dict[str, object]:
    """What has landed for one slot: status, manifest, signal row, table rows."""
    assert config.table is not None, f"{config.name} declares no table"
    # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
    from lakehouse.errors import LakehouseError
    from lakehouse.pipeline import steps as pipeline
    from lakehouse.queue.crawl_queue import open_queue
    from lakehouse.queue.jobs import run_id_for
    from lakehouse.tables.catalog import CatalogUnavailableError
    from lakehouse.tables.signals import rows_for

    run_id = run_id_for(config.name, slot_start)
    state: dict[str, object] = {"run_id": run_id, "complete": False}
    status = open_queue(settings).get_status(run_id)
    if status is None or status.state.value != "finished" or not status.manifest_path:
        return state
    manifest = pipeline.read_manifest(settings, status.manifest_path)
    state.update(
        pages=manifest.total_pages,
        records=manifest.total_records,
        bytes=manifest.total_bytes,
        raw=f"s3://{settings.s3.bucket}/{manifest.prefix}",
    )
    try:
        signals = rows_for(settings, run_id)
        state["signal_rows"] = len(signals)
        counts = pipeline.check_table_counts(settings, config.table, run_id)
    except (pipeline.TableNotLandedError, pipeline.CountMismatchError):
        # Not transformed yet, or only partly: the slot is incomplete, so it is run.
        state["table_rows"] = None
        return state
    except LakehouseError:
        raise
    except Exception as exc:  # the catalog or its storage failed: not an incomplete slot
        raise CatalogUnavailableError(settings.catalog.rest_uri, f"reading the slot of {run_id}", exc) from exc
    state["table_rows"] = counts.rows
    state["quarantined"] = counts.quarantined
    state["complete"] = len(signals) == 1
    return state


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        slots: int = typer.Option(3, "--slots", min=1, max=96, help="How many recent 15-minute slots to ingest."),
    ) -> None:
        """Ingest the sandbox API's recent slots through Airflow on the local stack, then summarise."""
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.local.files import PRIVATE_UMASK, make_private

        # Airflow's DB, logs and the stack's state are written from here too: owner-only.
        os.umask(PRIVATE_UMASK)
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.endpoints import endpoint_path, load_endpoint
        from lakehouse.endpoints.slots import previous_slots
        from lakehouse.engines.airflow_env import airflow_env
        from lakehouse.local.services.airflow_server import AirflowService
        from lakehouse.local.stack import LocalStack, services_with

        t0 = time.monotonic()
        config = load_endpoint(endpoint_path(ENDPOINT))
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.engines.engine import engine_services

        with console.status("starting the local stack") as line:
            demo_settings = load_settings()
            stack = LocalStack(
                demo_settings,
                # The transform engine too (the Spark Connect server with spark.engine=connect).
                services=services_with(["sandbox", "worker", *engine_services(demo_settings)]),
                on_event=lambda s, m: line.update(f"[bold]{s}[/]: {m}"),
            )
            up = stack.up()
            settings = stack.settings
            line.update("[bold]airflow[/]: preparing the metadata database")
            airflow = AirflowService(settings)
            airflow.prepare()
        console.print(
            f"[green]✓[/] stack up in {up.total_seconds:.1f} s "
            f"({', '.join(r.service for r in stack.status())}); state in {stack.state_dir}"
        )

        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(airflow_env(settings, airflow.home))
        windows = previous_slots(config.schedule, datetime.now(UTC), slots)
        results = []
        for index, (start, end) in enumerate(windows, 1):
            label = f"[{index}/{len(windows)}] slot {start:%Y-%m-%d %H:%M} UTC"
            before = _slot_state(settings, config, start)
            if before["complete"]:
                console.print(f"[green]✓[/] {label}: already landed ({before['records']} records), not run again")
                results.append(before)
                continue
            began = time.monotonic()
            with console.status(f"{label}: airflow dags test ingest_{ENDPOINT}") as line:
                proc = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "airflow"),
                        "dags",
                        "test",
                        f"ingest_{ENDPOINT}",
                        end.isoformat(),
                    ],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                output = []
                assert proc.stdout is not None
                for raw in proc.stdout:
                    output.append(raw)
                    task = _task_of(raw)
                    if task:
                        line.update(f"{label}: {task} ({time.monotonic() - began:.0f} s)")
                rc = proc.wait()
            if rc != 0:
                console.print(
                    f"[red]✗[/] {label}: the DAG run failed after {time.monotonic() - began:.0f} s; last lines:"
                )
                console.print("".join(output[-40:]), markup=False, highlight=False)
                raise typer.Exit(1)
            after = _slot_state(settings, config, start)
            console.print(
                f"[green]✓[/] {label}: {after.get('records')} records landed in {time.monotonic() - began:.0f} s"
            )
            results.append(after)

        _summary(results)
        _sample_query(settings, config, [str(r["run_id"]) for r in results])
        # SeaweedFS writes its volume info files (*.vif) 0644 whatever the umask.
        make_private(settings.local.state_dir)
        console.print(
            f"done in {time.monotonic() - t0:.0f} s. The stack keeps running: Airflow UI with "
            "`lakehouse local up --with airflow`; stop everything with `lakehouse local down`."
        )


def _task_of(line: str) -> str | None:
    # dag.test() logs "[DAG TEST] starting task_id=<id> map_index=-1" per task.
    if "[DAG TEST] starting task_id=" in line:
        return line.split("task_id=", 1)[1].split()[0]
    return None


def _summary(results: list[dict[str, object]]) -> None:
    table = Table(title="what landed, per slot")
    for col in ("run_id", "pages", "records", "bytes", "raw path", "signal rows", "table rows", "quarantined"):
        table.add_column(col, overflow="fold")
    for r in results:
        table.add_row(
            *(
                str(r.get(k, "-"))
                for k in ("run_id", "pages", "records", "bytes", "raw", "signal_rows", "table_rows", "quarantined")
            )
        )
    console.print(table)


def _sample_query(settings: Settings, config: EndpointConfig, run_ids: list[str]) -> None:
    from pyiceberg.expressions import In

    # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
    from lakehouse.tables.catalog import load_catalog

    assert config.table is not None
    table = load_catalog(settings).load_table(config.table.identifier)
    con = table.scan(row_filter=In("_run_id", run_ids)).to_duckdb("trades")  # type: ignore[call-arg]
    query = (
        'SELECT ds, hr, "min", count(*) AS trades, min(price) AS low, max(price) AS high, '
        "sum(qty) AS volume FROM trades GROUP BY ALL ORDER BY ALL"
    )
    rows = con.execute(query).fetchall()
    out = Table(title=f"sample query (DuckDB over pyiceberg): {config.table.identifier}")
    for col in ("ds", "hr", "min", "trades", "low", "high", "volume"):
        out.add_column(col, overflow="fold")
    for row in rows:
        out.add_row(*(str(v) for v in row))
    console.print(f"[dim]{query}[/]")
    console.print(out)
