"""`lakehouse signals [endpoint]`: the newest landed slots of each endpoint, its lag
behind the schedule and the slots missing in a window, from the signal table."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from lakehouse.cli import _ops_format as fmt

_PROFILE = typer.Option(None, "--profile", "-p", help="Settings profile (default: $LAKEHOUSE_PROFILE or local).")
NOW_HELP = "Evaluate as of this time (ISO, UTC when no zone is given; default: now)."


def register(app: typer.Typer) -> None:
    @app.command("signals")
    def signals(
        endpoint: str = typer.Argument(None, help="One endpoint (default: every endpoint config)."),
        window: int = typer.Option(
            None,
            "--window",
            "-w",
            min=1,
            help="Slots of the schedule to check for gaps (default: freshness.window_slots).",
        ),
        latest: int = typer.Option(3, "--latest", "-n", min=1, help="Newest landed slots to list per endpoint."),
        now: str = typer.Option(None, "--now", help=NOW_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per endpoint)."),
        profile: str = _PROFILE,
    ) -> None:
        """Latest slots, lag behind the schedule, missing slots in a window."""
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.config.settings import load_settings
        from lakehouse.endpoints import validate_all
        from lakehouse.endpoints.slots import parse_slot
        from lakehouse.ops.operations import endpoint_statuses, select_endpoints

        settings = load_settings(profile)
        configs, _ = validate_all()
        moment: datetime | None = parse_slot(now, option="--now") if now else None
        statuses = endpoint_statuses(
            settings, select_endpoints(configs, endpoint), now=moment, window_slots=window, latest_count=latest
        )
        if as_json:
            typer.echo(json.dumps([s.to_dict() for s in statuses], indent=2))
            return
        console = fmt.console()
        for s in statuses:
            state = "[red]LATE[/]" if s.late else "[green]fresh[/]"
            console.print(
                f"[bold]{s.endpoint}[/]  schedule {s.schedule!r}  {state}  lag {fmt.duration(s.lag_seconds)}"
                f"  {s.slots_behind} slot(s) behind"
            )
            out = fmt.table()
            out.add_column("slot (UTC)", no_wrap=True)
            out.add_column("run_id", overflow="fold", min_width=12)
            out.add_column("records", justify="right", no_wrap=True)
            out.add_column("published", no_wrap=True)
            for landed in s.latest:
                out.add_row(
                    fmt.when(landed.slot_start), landed.run_id, fmt.count(landed.records), fmt.slot(landed.published_at)
                )
            if s.latest:
                console.print(out)
            else:
                console.print("  no landed slot yet")
            shown = ", ".join(fmt.slot(m) for m in s.missing[-8:])
            more = f" (+{len(s.missing) - 8} earlier)" if len(s.missing) > 8 else ""
            console.print(
                f"  missing {len(s.missing)} of {s.window_slots} slots since {fmt.when(s.window_start)}"
                + (f": {shown}{more}" if s.missing else "")
            )
            console.print()
