"""`lakehouse freshness`: which endpoints are late, for people and for monitoring
(exit status 1 when any is late; --json for scripts)."""

from __future__ import annotations

import json
from datetime import datetime

import typer

from lakehouse.cli import _ops_format as fmt
from lakehouse.cli.commands.signals_cmd import NOW_HELP

_PROFILE = typer.Option(None, "--profile", "-p", help="Settings profile (default: $LAKEHOUSE_PROFILE or local).")


def register(app: typer.Typer) -> None:
    @app.command("freshness")
    def freshness(
        endpoint: str = typer.Argument(None, help="One endpoint (default: every endpoint config)."),
        now: str = typer.Option(None, "--now", help=NOW_HELP),
        as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per endpoint)."),
        profile: str = _PROFILE,
    ) -> None:
        """Each endpoint's newest landed slot and lag; exits 1 when any endpoint is late."""
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.config.settings import load_settings
        from lakehouse.endpoints import validate_all
        from lakehouse.endpoints.slots import parse_slot
        from lakehouse.ops.operations import endpoint_statuses, select_endpoints

        settings = load_settings(profile)
        configs, _ = validate_all()
        moment: datetime | None = parse_slot(now, option="--now") if now else None
        statuses = endpoint_statuses(settings, select_endpoints(configs, endpoint), now=moment, latest_count=1)
        late = [s for s in statuses if s.late]
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "late": [s.endpoint for s in late],
                        "endpoints": [
                            {k: v for k, v in s.to_dict().items() if k not in ("latest", "missing")}
                            | {"missing_slots": len(s.missing)}
                            for s in statuses
                        ],
                    },
                    indent=2,
                )
            )
        else:
            grace = fmt.duration(settings.freshness.grace_seconds)
            out = fmt.table(f"freshness (late: newest slot ended over one interval + {grace} ago)")
            out.add_column("endpoint", overflow="fold", min_width=12)
            out.add_column("newest slot", no_wrap=True)
            out.add_column("lag", justify="right", no_wrap=True)
            out.add_column("behind", justify="right", no_wrap=True)
            out.add_column("missing", justify="right", no_wrap=True)
            out.add_column("state", no_wrap=True)
            for s in statuses:
                out.add_row(
                    s.endpoint,
                    fmt.when(s.newest_slot_start),
                    fmt.duration(s.lag_seconds),
                    str(s.slots_behind),
                    str(len(s.missing)),
                    "[red]LATE[/]" if s.late else "[green]ok[/]",
                )
            console = fmt.console()
            console.print(out)
            console.print(
                f"{len(late)} of {len(statuses)} endpoint(s) late"
                + (": " + ", ".join(s.endpoint for s in late) if late else "")
            )
        if late:
            raise typer.Exit(1)
