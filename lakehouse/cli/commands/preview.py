"""`lakehouse preview <endpoint | file.yaml>`: fetch the first pages live, show what
came back and the columns it would declare; `--write` adds them to the YAML."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit

import typer
from rich.console import Console
from rich.text import Text

from lakehouse.cli import _ops_format as fmt
from lakehouse.config import paths
from lakehouse.endpoints import EndpointConfig, endpoint_path, load_endpoint
from lakehouse.errors import EndpointConfigError
from lakehouse.pipeline.preview import Preview

_MAX_SAMPLE_LINES = 3


def resolve_target(target: str) -> tuple[Path, EndpointConfig]:
    """An endpoint name (config/endpoints/<name>.yaml) or a path to a YAML file."""
    candidate = Path(target)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        if not candidate.is_file():
            raise EndpointConfigError(str(candidate), [("", "no such file")])
        return candidate, load_endpoint(candidate)
    path = endpoint_path(target, paths.endpoints_dir())
    if not path.is_file():
        known = sorted(p.stem for p in paths.endpoints_dir().glob("*.yaml"))
        raise EndpointConfigError(
            str(path), [("", f"no endpoint {target!r} (known: {', '.join(known) or 'none'}); or pass a file path")]
        )
    return path, load_endpoint(path)


def next_delta(url: str, nxt: str) -> str:
    """The next URL as what changes from ``url`` (``?offset=200``) when only its query
    differs, so it reads on one line; the whole URL otherwise."""
    a, b = urlsplit(url), urlsplit(nxt)
    if (a.scheme, a.netloc, a.path) != (b.scheme, b.netloc, b.path):
        return nxt
    before, after = dict(parse_qsl(a.query, keep_blank_values=True)), parse_qsl(b.query, keep_blank_values=True)
    changed = [(k, v) for k, v in after if before.get(k) != v]
    dropped = [k for k in before if k not in dict(after)]
    text = "?" + urlencode(changed) if changed else "the same URL"
    return text + "".join(f" -{k}" for k in dropped)


def _share(records: int, total: int) -> str:
    return f"{100 * records / total:.0f}%" if total else "-"


def render(result: Preview, console: Console) -> None:
    width = console.width
    slot = f"{result.slot_start:%Y-%m-%d %H:%M}-{result.slot_end:%H:%M} UTC"
    console.print(
        f"{result.endpoint}: {result.pagination} pagination, slot {slot}, "
        f"{len(result.requests)} of at most {result.pages_asked} page(s) fetched, nothing landed",
        soft_wrap=False,
    )
    console.print(Text("\nrequests", style="bold"))
    for i, request in enumerate(result.requests, 1):
        found = "records_path is no list" if request.records is None else f"{request.records} records"
        # Text, not markup: a path such as data[0] must print as written.
        console.print(Text(f"{i:>3}  HTTP {request.status}  {found} at {result.records_path or '(whole body)'}"))
        console.print(Text(f"     {request.url}", overflow="fold"))
        nxt = next_delta(request.url, request.next_url) if request.next_url else "none: the crawl would end here"
        console.print(Text(f"     next {nxt}", overflow="fold"))
    if result.error:
        console.print(Text(f"stopped: {result.error}", style="red", overflow="fold"))
    if not result.records:
        console.print(Text(f"\nno records at records_path {result.records_path!r}", style="bold"))
        if result.list_paths:
            console.print("paths that hold lists of objects (set response_map.records_path to one):")
            for path, length in result.list_paths:
                console.print(Text(f"  {path or '(the whole body)'}  {length} items", overflow="fold"))
        return
    console.print(Text(f"\nsample ({len(result.sample)} of {len(result.records)} records)", style="bold"))
    for record in result.sample:
        text = json.dumps(record, ensure_ascii=False)
        limit = (width - 2) * _MAX_SAMPLE_LINES
        console.print(Text("  " + (text if len(text) <= limit else text[: limit - 3] + "..."), overflow="fold"))
    inference = result.inference
    table = fmt.table(f"\ncolumns ({inference.records} records)")
    table.add_column("column", overflow="fold")
    table.add_column("path", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("fits", overflow="fold")
    for column in inference.columns:
        kind = column.type + (f" {column.format}" if column.format else "")
        others = [
            f"{f.type}{' ' + f.format if f.format else ''} {_share(f.records, column.records)}"
            for f in column.fits
            # Every scalar fits a string: saying so on each row is noise.
            if (f.type, f.format) != (column.type, column.format) and f.type != "string"
        ]
        chosen = next(
            (f for f in column.fits if (f.type, f.format) == (column.type, column.format)),
            None,
        )
        share = _share(chosen.records, column.records) if chosen else "-"
        fits = share + (f" (also {', '.join(others)})" if others else "")
        path = column.path if column.path != column.name else ""
        table.add_row(Text(column.name), Text(path), Text(kind), Text(fits))
    console.print(table)
    notes = [(c.name, c.evidence) for c in inference.columns if c.evidence]
    for name, evidence in notes:
        console.print(Text(f"  {name}: {evidence}", overflow="fold"))
    for nested in inference.nested:
        share = _share(nested.records, inference.records)
        console.print(Text(f"  {nested.path}: {nested.detail}, in {share} of records", overflow="fold"))


def register(app: typer.Typer) -> None:
    @app.command("preview")
    def preview_cmd(
        target: Annotated[str, typer.Argument(help="Endpoint name (config/endpoints/<name>.yaml) or a YAML file.")],
        pages: Annotated[int, typer.Option("--pages", min=1, max=100, help="Pages to fetch at most.")] = 2,
        slot: Annotated[
            str | None,
            typer.Option("--slot", help="A time in the slot to ask for (ISO; UTC if no zone). Default: the latest."),
        ] = None,
        write: Annotated[
            bool,
            typer.Option("--write", help="Add the inferred columns to the YAML's table.columns, in place."),
        ] = False,
        namespace: Annotated[
            str, typer.Option("--namespace", help="With --write: the namespace of a new table section.")
        ] = "raw",
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (for scripts).")] = False,
        timeout: Annotated[float, typer.Option("--timeout", min=1, help="Give up after this many seconds.")] = 120.0,
        profile: Annotated[str | None, typer.Option("--profile", "-p", help="Profile in config/profiles.")] = None,
    ) -> None:
        """Fetch an endpoint's first pages live (nothing lands); show records and the columns to declare."""
        from lakehouse.config.settings import load_settings
        from lakehouse.endpoints.slots import parse_slot, previous_slots, slot_window
        from lakehouse.pipeline.preview import preview

        path, config = resolve_target(target)
        if slot is None:
            ((start, end),) = previous_slots(config.schedule, datetime.now(UTC), 1)
        else:
            start, end = slot_window(config.schedule, parse_slot(slot))
        result = preview(load_settings(profile), path, config, (start, end), pages, profile, timeout)
        written = None
        if write and result.inference.columns:
            from lakehouse.endpoints.columns_yaml import write_columns

            written = write_columns(path, result.inference.columns, namespace)
        if as_json:
            report = result.to_json()
            if written is not None:
                report["written"] = {"file": str(path), "added": list(written.added), "kept": written.kept}
            typer.echo(json.dumps(report, default=str))
        else:
            console = fmt.console()
            render(result, console)
            if written is not None:
                what = "a new table section with" if written.new_table else f"{written.kept} declared +"
                console.print(
                    Text(f"\nwrote {path}: {what} {len(written.added)} column(s) added", overflow="fold"),
                )
            elif write:
                console.print("\nnothing written: no records to infer columns from")
        if result.error or not result.requests:
            raise SystemExit(1)
