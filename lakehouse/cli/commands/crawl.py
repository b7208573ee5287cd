"""`lakehouse crawl <endpoint>`: enqueue one slot's crawl job without Airflow, and
optionally follow it to the end. The way an engineer tries a new endpoint config.

The job carries the endpoint's auth as environment variable *names* only; the worker
that runs it reads the values from its own environment.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from lakehouse.config import paths
from lakehouse.config.settings import load_settings
from lakehouse.endpoints import EndpointConfig, endpoint_path, load_endpoint
from lakehouse.endpoints.slots import parse_slot, previous_slots, slot_window
from lakehouse.errors import EndpointConfigError, JobNotFoundError, WaitTimeoutError
from lakehouse.pipeline.steps import slot_job
from lakehouse.queue.jobs import JobState, JobStatus
from lakehouse.raw.layout import s3_uri


def _endpoint(name: str) -> EndpointConfig:
    directory = paths.endpoints_dir()
    path = endpoint_path(name, directory)
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise EndpointConfigError(
            str(path),
            [
                (
                    "",
                    f"no endpoint {name!r} (known: {', '.join(known) or 'none'}); add {name}.yaml "
                    "or point LAKEHOUSE_ENDPOINTS_DIR at the configs",
                )
            ],
        )
    return load_endpoint(path)


def _line(status: JobStatus, elapsed: float) -> Text:
    return Text.assemble(
        (f"{status.run_id} ", "bold"),
        (status.state.value, "cyan"),
        f"  attempt {status.attempts}/{status.max_attempts}  worker {status.worker_id or '-'}  "
        f"pages {status.pages}  records {status.records}  bytes {status.bytes}  {elapsed:.0f}s",
    )


def register(app: typer.Typer) -> None:
    @app.command("crawl")
    def crawl(
        endpoint: Annotated[str, typer.Argument(help="Endpoint name (config/endpoints/<name>.yaml).")],
        slot: Annotated[
            str | None,
            typer.Option(
                "--slot", help="A time in the slot to crawl (ISO; UTC if no zone). Default: the latest complete slot."
            ),
        ] = None,
        wait: Annotated[
            bool, typer.Option("--wait", help="Follow the job until it ends and print its summary.")
        ] = False,
        force: Annotated[bool, typer.Option("--force", help="Crawl again even if this slot already finished.")] = False,
        timeout: Annotated[
            float, typer.Option("--timeout", min=1, help="With --wait: give up after this many seconds.")
        ] = 600.0,
        profile: Annotated[str | None, typer.Option("--profile", "-p", help="Profile in config/profiles.")] = None,
        queue_prefix: Annotated[
            str | None,
            typer.Option(
                "--queue-prefix",
                help="Redis key prefix of the queue (default: the settings' queue prefix); workers must use the same.",
            ),
        ] = None,
    ) -> None:
        """Enqueue one slot's crawl job for a worker (`python -m scrapworker`); --wait follows it."""
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.queue.crawl_queue import open_queue  # redis import: keep `lakehouse --help` fast

        config = _endpoint(endpoint)
        if slot is None:
            ((start, end),) = previous_slots(config.schedule, datetime.now(UTC), 1)
        else:
            start, end = slot_window(config.schedule, parse_slot(slot))
        settings = load_settings(profile)
        job = slot_job(settings, config, start, end, force=force)
        queue = open_queue(settings, queue_prefix)
        result = queue.enqueue(job, force=force)
        console = Console()
        console.print(
            f"{job.run_id}: {result.outcome.value} (slot {start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC)"
            + ("; pass --force to crawl it again" if result.outcome.value == "already_finished" else ""),
            highlight=False,
        )
        if not wait:
            return
        started = time.monotonic()
        with Live(console=console, transient=True, refresh_per_second=4) as live:
            try:
                status = queue.wait_for(
                    job.run_id,
                    timeout,
                    poll_interval=0.25,
                    on_poll=lambda s: live.update(_line(s, time.monotonic() - started)),
                )
            except JobNotFoundError:
                raise WaitTimeoutError(job.run_id, timeout, "gone (its status expired)") from None
        seconds = time.monotonic() - started
        bucket = settings.s3.bucket
        if status.state == JobState.FINISHED:
            console.print(
                f"{job.run_id}: finished by {status.worker_id} in {seconds:.1f} s: {status.pages} pages, "
                f"{status.records} records, {status.bytes} bytes\n"
                f"  raw prefix {s3_uri(bucket, job.raw_prefix)}\n"
                f"  manifest   {s3_uri(bucket, status.manifest_path or job.manifest_key)}",
                highlight=False,
                soft_wrap=True,
            )
            return
        Console(stderr=True).print(
            f"{job.run_id}: {status.state.value} after {status.attempts} attempt(s): {status.error}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
        # SystemExit, not typer.Exit: the entry point runs click with standalone_mode=False.
        raise SystemExit(1)
