"""``python -m sandbox --host 127.0.0.1 --port 18080 [--rate-limit 20] [--token T] ...``"""

from __future__ import annotations

import signal
import sys
from enum import StrEnum
from types import FrameType

import typer

from sandbox.app import SandboxOptions
from sandbox.faults import FaultRates
from sandbox.market import DEFAULT_ORIGIN_MS, MarketConfig
from sandbox.oauth2 import OAuth2Options
from sandbox.server import SandboxServer


class RateWindow(StrEnum):
    sliding = "sliding"
    fixed = "fixed"


app = typer.Typer(add_completion=False)


@app.command(help="Run the sandbox market API (a stand-in upstream).")
def _serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(18080),
    rate_limit: int = typer.Option(
        20, help="admitted requests per second (0: unlimited; default 20, like the shipped configs)"
    ),
    rate_window: RateWindow = typer.Option(
        RateWindow.sliding, help="sliding: any 1 s interval; fixed: per wall-clock second"
    ),
    token: str | None = typer.Option(
        None, envvar="SANDBOX_TOKEN", help="require this bearer token (default: $SANDBOX_TOKEN; unset: no auth)"
    ),
    oauth2_client_id: str | None = typer.Option(
        None,
        envvar="SANDBOX_OAUTH2_CLIENT_ID",
        help="serve POST /oauth/token for this client and accept its tokens (default: $SANDBOX_OAUTH2_CLIENT_ID)",
    ),
    oauth2_client_secret: str | None = typer.Option(
        None, envvar="SANDBOX_OAUTH2_CLIENT_SECRET", help="the client's secret (default: $SANDBOX_OAUTH2_CLIENT_SECRET)"
    ),
    oauth2_token_lifetime: float = typer.Option(3600.0, help="seconds a token is accepted"),
    fail_rate: float = typer.Option(0.0, help="share of responses answered 500/502/503"),
    truncate_rate: float = typer.Option(0.0, help="share of 200 responses with a JSON body cut in half"),
    slow_rate: float = typer.Option(0.0, help="share of responses delayed by --slow-seconds"),
    slow_seconds: float = typer.Option(2.0),
    max_faults_per_request: int = typer.Option(3, help="after this many faulted attempts a request is served cleanly"),
    records: int = typer.Option(1000, help="trades served without a start_time/end_time window"),
    trade_interval_ms: int = typer.Option(1000, help="one trade every N ms (so a 15-minute slot holds 900000/N)"),
    origin_ms: int = typer.Option(DEFAULT_ORIGIN_MS, help="time of the first trade (epoch ms)"),
    seed: int = typer.Option(0, help="changes every record's fields and every fault draw"),
    verbose: bool = typer.Option(False, "--verbose", help="log every request"),
) -> None:
    if bool(oauth2_client_id) != bool(oauth2_client_secret):
        print("sandbox: --oauth2-client-id and --oauth2-client-secret go together", file=sys.stderr)
        raise typer.Exit(2)
    try:
        oauth2 = (
            OAuth2Options(oauth2_client_id, oauth2_client_secret, oauth2_token_lifetime)
            if oauth2_client_id and oauth2_client_secret
            else None
        )
        options = SandboxOptions(
            rate_limit=rate_limit or None,
            rate_window=rate_window.value,
            token=token or None,
            faults=FaultRates(fail_rate, truncate_rate, slow_rate, slow_seconds, max_faults_per_request),
            market=MarketConfig(records, trade_interval_ms, origin_ms, seed),
            oauth2=oauth2,
        )
        server = SandboxServer(options, host, port, verbose=verbose)
    except ValueError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    except OSError as exc:
        print(f"sandbox: cannot listen on {host}:{port}: {exc.strerror}; pick another --port", file=sys.stderr)
        raise typer.Exit(2) from exc

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    limit = f"{options.rate_limit}/s ({options.rate_window})" if options.rate_limit else "unlimited"
    auth = "oauth2" if oauth2 else "bearer" if options.token else "off"
    print(
        f"sandbox market API on {server.url} (rate limit {limit}, auth {auth})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def main(argv: list[str] | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C (exit 0); exit 2 on a bad option or a busy port."""
    app(args=argv, prog_name="python -m sandbox")


if __name__ == "__main__":
    main()
