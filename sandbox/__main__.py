"""``python -m sandbox --host 127.0.0.1 --port 18080 [--rate-limit 20] [--token T] ...``"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from sandbox.app import SandboxOptions
from sandbox.faults import FaultRates
from sandbox.market import DEFAULT_ORIGIN_MS, MarketConfig
from sandbox.oauth2 import OAuth2Options
from sandbox.server import SandboxServer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sandbox", description="Run the sandbox market API (a stand-in upstream)."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=18080)
    p.add_argument(
        "--rate-limit",
        type=int,
        default=20,
        help="admitted requests per second (0: unlimited; default 20, like the shipped configs)",
    )
    p.add_argument(
        "--rate-window",
        choices=("sliding", "fixed"),
        default="sliding",
        help="sliding: any 1 s interval; fixed: per wall-clock second",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("SANDBOX_TOKEN"),
        help="require this bearer token (default: $SANDBOX_TOKEN; unset: no auth)",
    )
    p.add_argument(
        "--oauth2-client-id",
        default=os.environ.get("SANDBOX_OAUTH2_CLIENT_ID"),
        help="serve POST /oauth/token for this client and accept its tokens (default: $SANDBOX_OAUTH2_CLIENT_ID)",
    )
    p.add_argument(
        "--oauth2-client-secret",
        default=os.environ.get("SANDBOX_OAUTH2_CLIENT_SECRET"),
        help="the client's secret (default: $SANDBOX_OAUTH2_CLIENT_SECRET)",
    )
    p.add_argument("--oauth2-token-lifetime", type=float, default=3600.0, help="seconds a token is accepted")
    p.add_argument("--fail-rate", type=float, default=0.0, help="share of responses answered 500/502/503")
    p.add_argument(
        "--truncate-rate", type=float, default=0.0, help="share of 200 responses with a JSON body cut in half"
    )
    p.add_argument("--slow-rate", type=float, default=0.0, help="share of responses delayed by --slow-seconds")
    p.add_argument("--slow-seconds", type=float, default=2.0)
    p.add_argument(
        "--max-faults-per-request",
        type=int,
        default=3,
        help="after this many faulted attempts a request is served cleanly",
    )
    p.add_argument("--records", type=int, default=1000, help="trades served without a start_time/end_time window")
    p.add_argument(
        "--trade-interval-ms", type=int, default=1000, help="one trade every N ms (so a 15-minute slot holds 900000/N)"
    )
    p.add_argument("--origin-ms", type=int, default=DEFAULT_ORIGIN_MS, help="time of the first trade (epoch ms)")
    p.add_argument("--seed", type=int, default=0, help="changes every record's fields and every fault draw")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if bool(args.oauth2_client_id) != bool(args.oauth2_client_secret):
        print("sandbox: --oauth2-client-id and --oauth2-client-secret go together", file=sys.stderr)
        return 2
    try:
        oauth2 = (
            OAuth2Options(args.oauth2_client_id, args.oauth2_client_secret, args.oauth2_token_lifetime)
            if args.oauth2_client_id
            else None
        )
        options = SandboxOptions(
            rate_limit=args.rate_limit or None,
            rate_window=args.rate_window,
            token=args.token or None,
            faults=FaultRates(
                args.fail_rate, args.truncate_rate, args.slow_rate, args.slow_seconds, args.max_faults_per_request
            ),
            market=MarketConfig(args.records, args.trade_interval_ms, args.origin_ms, args.seed),
            oauth2=oauth2,
        )
        server = SandboxServer(options, args.host, args.port, verbose=args.verbose)
    except ValueError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror}; pick another --port", file=sys.stderr
        )
        return 2

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
