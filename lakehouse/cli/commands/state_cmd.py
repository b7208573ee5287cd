"""`lakehouse state <endpoint>`: an incremental endpoint's cursor marks, read from the
landings' manifests in S3 (the durable record, not Redis), and `--reset` to make the
next new slot ask from another value."""

from __future__ import annotations

import json

import typer

from lakehouse.cli import _ops_format as fmt

_PROFILE = typer.Option(None, "--profile", "-p", help="Settings profile (default: $LAKEHOUSE_PROFILE or local).")


def register(app: typer.Typer) -> None:
    @app.command("state")
    def state(
        endpoint: str = typer.Argument(..., help="An endpoint with an incremental: block."),
        latest: int = typer.Option(5, "--latest", "-n", min=1, help="Newest landed slots to list."),
        reset: bool = typer.Option(
            False, "--reset", help="Make the next new slot ask from --to (default: initial_value)."
        ),
        to: str = typer.Option(None, "--to", help="The value --reset sets (e.g. 2026-11-01T00:00:00Z)."),
        yes: bool = typer.Option(False, "--yes", "-y", help="Reset without asking."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        profile: str = _PROFILE,
    ) -> None:
        """An incremental endpoint's cursor marks (from its manifests); --reset moves the next start."""
        # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
        from lakehouse.config.settings import load_settings
        from lakehouse.endpoints import validate_all
        from lakehouse.ops.operations import select_endpoints
        from lakehouse.pipeline import incremental
        from lakehouse.raw.storage import s3_client

        if to is not None and not reset:
            raise typer.BadParameter("--to goes with --reset", param_hint="--to")
        settings = load_settings(profile)
        configs, _ = validate_all()
        (config,) = select_endpoints(configs, endpoint)
        s3 = settings.s3
        client = s3_client(s3)
        before = incremental.cursor_state(client, s3.bucket, s3.raw_prefix, config, latest)
        if reset:
            value = to or before.initial_value
            if not yes and not as_json:
                typer.confirm(f"{endpoint}: next new slot asks from {value!r} (now {before.next_start!r})?", abort=True)
            incremental.write_reset(client, s3.bucket, s3.raw_prefix, config, value)
        current = incremental.cursor_state(client, s3.bucket, s3.raw_prefix, config, latest) if reset else before
        if as_json:
            typer.echo(json.dumps(current.to_dict(), indent=2))
            return
        console = fmt.console()
        console.print(f"[bold]{current.endpoint}[/]  {current.param} from {current.cursor_path}")
        out = fmt.table()
        out.add_column("slot (UTC)", no_wrap=True)
        out.add_column("from", overflow="fold")
        out.add_column("to (mark)", overflow="fold")
        out.add_column("records", justify="right", no_wrap=True)
        for landed in current.latest:
            out.add_row(fmt.slot(landed.slot_start), landed.start, landed.end, fmt.count(landed.records))
        if current.latest:
            console.print(out)
        else:
            console.print("  no landed slot yet")
        why = {"previous": "the newest landing's mark", "reset": "a reset", "initial": "initial_value"}
        console.print(f"next new slot asks from {current.next_start} ({why[current.next_source]})")
        if reset:
            console.print(f"reset from {before.next_start}; recorded slots keep their ranges (a rerun reuses its own)")
