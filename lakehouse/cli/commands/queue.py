"""`lakehouse queue ...`: look at the job queue and hand dead jobs back to it."""

from __future__ import annotations

import json
from datetime import datetime

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from lakehouse.config.settings import load_settings
from lakehouse.queue.crawl_queue import open_queue
from lakehouse.queue.jobs import JobState, JobStatus

_PROFILE = typer.Option(
    None, "--profile", "-p", help="Profile in config/profiles (default: $LAKEHOUSE_PROFILE or local)."
)


def _when(value: datetime | float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _short(text: str | None, width: int = 80) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_recent_narrow(console: Console, statuses: list[JobStatus]) -> None:
    """Recent runs for a narrow terminal: the short columns in a table, then each
    run's worker and manifest or error on lines of their own (they wrap as text
    instead of squeezing into one-character columns)."""
    recent = Table(title="recent runs", show_header=True, box=box.SIMPLE)
    recent.add_column("run_id", no_wrap=True)
    for column in ("state", "att", "recs"):
        recent.add_column(column, no_wrap=True, justify="left" if column == "state" else "right")
    recent.add_column("updated", no_wrap=True)
    for st in statuses:
        recent.add_row(
            st.run_id, st.state.value, f"{st.attempts}/{st.max_attempts}", str(st.records), _when(st.updated_at)[5:]
        )
    console.print(recent)
    for st in statuses:
        detail = st.manifest_path if st.state == JobState.FINISHED else _short(st.error, 200)
        console.print(
            f"{st.run_id}: worker {st.worker_id or '-'}, {st.pages} pages" + (f", {detail}" if detail else ""),
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    queue_app = typer.Typer(help="The crawl job queue in Redis: counts, dead letters, retries.", no_args_is_help=True)
    app.add_typer(queue_app, name="queue")

    @queue_app.command("status")
    def status(
        limit: int = typer.Option(20, "--limit", "-n", min=0, help="How many recently changed runs to list."),
        profile: str = _PROFILE,
    ) -> None:
        """Queue counts, runs per state, and the most recently changed runs."""
        queue = open_queue(load_settings(profile))
        stats = queue.queue_stats()
        console = Console()
        # SIMPLE boxes (no side borders) keep both tables within 80 columns.
        counts = Table(title=f"queue {queue.keys.jobs}", show_header=True, box=box.SIMPLE)
        for column in ("ready", "leased", "dead letters", *(s.value for s in JobState)):
            counts.add_column(column, justify="right")
        counts.add_row(
            str(stats.ready),
            str(stats.leased),
            str(stats.dead_letters),
            *(str(stats.by_state[s]) for s in JobState),
        )
        console.print(counts)
        if limit and console.width < 120:
            _print_recent_narrow(console, queue.recent_statuses(limit))
        elif limit:
            recent = Table(title="recent runs", show_header=True)
            # run ids stay whole on one line: operators copy them into `queue retry`.
            recent.add_column("run_id", no_wrap=True)
            for column in ("state", "attempts", "worker", "pages", "records", "updated", "manifest / error"):
                recent.add_column(column, overflow="fold")
            for st in queue.recent_statuses(limit):
                detail = st.manifest_path if st.state == JobState.FINISHED else _short(st.error, 60)
                recent.add_row(
                    st.run_id,
                    st.state.value,
                    f"{st.attempts}/{st.max_attempts}",
                    st.worker_id or "-",
                    str(st.pages),
                    str(st.records),
                    _when(st.updated_at),
                    detail or "",
                )
            console.print(recent)

    @queue_app.command("dead-letters")
    def dead_letters(
        limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many, newest first."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (one array) instead of a table."),
        profile: str = _PROFILE,
    ) -> None:
        """Jobs that were given up on, with the reason (payloads carry no secrets)."""
        letters = open_queue(load_settings(profile)).dead_letters(limit)
        if as_json:
            typer.echo(json.dumps([d.model_dump(mode="json") for d in letters], indent=2))
            return
        table = Table(title=f"dead letters (newest first, {len(letters)} shown)", show_header=True)
        for column in ("dead at", "run_id", "attempts", "worker", "reason", "payload"):
            table.add_column(column, overflow="fold", no_wrap=column == "run_id")
        for d in letters:
            table.add_row(
                _when(d.dead_at),
                d.run_id or "(unreadable)",
                "-" if d.attempts is None else str(d.attempts),
                d.worker_id or "-",
                d.reason,
                _short(d.payload, 60),
            )
        Console().print(table)

    @queue_app.command("retry")
    def retry(
        run_id: str = typer.Argument(..., help="The run id of a dead job (see `lakehouse queue dead-letters`)."),
        profile: str = _PROFILE,
    ) -> None:
        """Put a dead job back on the queue with its attempts reset."""
        result = open_queue(load_settings(profile)).retry_dead(run_id)
        typer.echo(f"{result.run_id}: {result.outcome.value}")
