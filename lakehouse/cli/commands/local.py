"""`lakehouse local up | down | status | logs`: the embedded stack on loopback."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from lakehouse.config.settings import Settings, load_settings
from lakehouse.local.files import PRIVATE_UMASK
from lakehouse.local.stack import OPTIONAL_SERVICES, EventHook, LocalStack, ServiceStatus, services_with

if TYPE_CHECKING:
    from rich.status import Status

console = Console()

ProfileOption = typer.Option(None, "--profile", "-p", help="Settings profile (default: $LAKEHOUSE_PROFILE or local).")
_WITH_HELP = f"Also start optional services: {', '.join(sorted(OPTIONAL_SERVICES))}. Repeatable."


def _stack(
    profile: str | None,
    status_line: Status | None = None,
    extras: list[str] | None = None,
    settings: Settings | None = None,
) -> LocalStack:
    hook: EventHook | None = None
    if status_line is not None:
        hook = lambda service, message: status_line.update(f"[bold]{service}[/]: {message}")  # noqa: E731
    return LocalStack(settings or load_settings(profile), services=services_with(extras or []), on_event=hook)


def engine_extras(settings: Settings) -> list[str]:
    """The transform engine's services, when any endpoint config declares a table (the
    only thing that runs a transform). Broken configs do not stop `up`: `lakehouse
    validate` reports them; the valid ones decide."""
    # CLI start-up time: loaded when this command runs, not for its --help or its siblings.
    from lakehouse.endpoints import validate_all
    from lakehouse.engines.engine import engine_services

    configs, _ = validate_all()
    return engine_services(settings) if any(c.table is not None for c in configs) else []


def register(app: typer.Typer) -> None:
    local = typer.Typer(help="Run the embedded stack (Redis, S3 server, Nessie) on 127.0.0.1.", no_args_is_help=True)
    app.add_typer(local, name="local")

    @local.command("up")
    def up(
        profile: str = ProfileOption,
        with_: list[str] = typer.Option([], "--with", help=_WITH_HELP),
    ) -> None:
        """Start every service (a no-op for those already healthy) and bootstrap the catalog."""
        # Before anything is created: every file this process writes is owner-only.
        os.umask(PRIVATE_UMASK)
        settings = load_settings(profile)
        extras = [*with_, *(e for e in engine_extras(settings) if e not in with_)]
        with console.status("starting the local stack") as line:
            stack = _stack(profile, line, extras, settings=settings)
            result = stack.up()
        _print_status(stack)
        started = ", ".join(result.started) or "none"
        kept = ", ".join(result.already_running) or "none"
        created = ", ".join(result.namespaces_created) or "none new"
        console.print(
            f"stack up in {result.total_seconds:.1f} s: started {started}; already running {kept}; "
            f"namespaces {', '.join(result.namespaces)} ({created})"
        )
        if result.restarted:
            console.print(f"[yellow]restarted[/] (had died since the last up): {', '.join(result.restarted)}")
        if "spark-connect" in extras:
            from lakehouse.local.services.spark_connect_server import SparkConnectService

            console.print(
                f"spark connect: {SparkConnectService(stack.settings).url} (token in "
                f"{stack.settings.local.secrets_dir}/LAKEHOUSE_SPARK__CONNECT_TOKEN; transforms use it, "
                "spark.engine=connect)"
            )
        console.print(f"state and logs: {stack.state_dir}")
        if "airflow" in with_:
            from lakehouse.local.services.airflow_server import ADMIN_USER, AirflowService

            airflow = AirflowService(stack.settings)
            console.print(
                f"airflow UI: {airflow.url}  user [bold]{ADMIN_USER}[/]  password [bold]{airflow.admin_password()}[/] "
                f"(kept in {airflow.password_file})"
            )
        if "jupyter" in with_:
            from lakehouse.local.services.jupyter_server import JupyterService

            jupyter = JupyterService(stack.settings)
            console.print(
                f"jupyter: {jupyter.login_url()}  (token kept in {jupyter.token_file}; notebooks in "
                f"{jupyter.notebook_dir})",
                soft_wrap=True,
            )
        if "trino" in with_:
            from lakehouse.local.services.trino_server import USER, TrinoService

            trino = TrinoService(stack.settings)
            console.print(f"trino: {trino.url}  user [bold]{USER}[/], catalog {stack.settings.catalog.name}")
            console.print(f"  password in {trino.password_file}; TLS certificate {trino.certificate}")
        if "spark" in with_:
            from lakehouse.local.services.spark_server import master_url

            url = master_url(stack.settings)
            console.print(f"spark master: {url} (jobs use it with LAKEHOUSE_SPARK__MASTER={url})")

    @local.command("down")
    def down(profile: str = ProfileOption) -> None:
        """Stop exactly the processes `up` started."""
        t0 = time.monotonic()
        with console.status("stopping the local stack") as line:
            stack = _stack(profile, line)
            outcome = stack.down()
        for name, what in outcome:
            console.print(f"{name}: {what}")
        if not outcome:
            console.print("nothing was running")
        console.print(f"stack down in {time.monotonic() - t0:.1f} s")

    @local.command("status")
    def status(
        profile: str = ProfileOption,
        as_json: bool = typer.Option(False, "--json", help="Machine-readable: one object per service."),
    ) -> None:
        """Show each service with its URL, port, pid and health. Exit 1 when any is down."""
        stack = _stack(profile)
        rows = stack.status()
        if as_json:
            typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        else:
            _print_status(stack, rows)
        if not all(r.healthy for r in rows):
            raise typer.Exit(1)

    @local.command("logs")
    def logs(
        service: str = typer.Argument(..., help="redis, s3 or nessie"),
        lines: int = typer.Option(40, "--lines", "-n"),
        profile: str = ProfileOption,
    ) -> None:
        """Print the last lines of a service's log."""
        typer.echo(_stack(profile).log_tail(service, lines))


def _print_status(stack: LocalStack, rows: list[ServiceStatus] | None = None) -> None:
    rows = rows if rows is not None else stack.status()
    table = Table(title=f"local stack ({stack.state_dir})")
    for col in ("service", "url", "port", "pid", "health"):
        table.add_column(col)
    for r in rows:
        health = "[green]healthy[/]" if r.healthy else ("[yellow]unhealthy[/]" if r.running else "[red]stopped[/]")
        table.add_row(r.service, r.url, str(r.port), str(r.pid or "-"), health)
    console.print(table)
