"""``python -m scrapworker``: one long-running Scrapy process serving the crawl queue.

    python -m scrapworker [--concurrency 4] [--worker-id ID] [--lease-seconds 60]
                          [--max-jobs N | --once] [--endpoints-dir DIR] [--shutdown-grace 30]

Settings (Redis, S3) come from the lakehouse profile (``LAKEHOUSE_PROFILE`` and
``LAKEHOUSE_*`` variables); API credentials from the environment variables the
endpoint configs name. SIGTERM: finish or release the jobs in hand, exit 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lakehouse.errors import LakehouseError


def _parser() -> argparse.ArgumentParser:
    # The defaults are the worker's settings module's (no heavy imports: --help stays fast).
    from scrapworker import settings as d

    p = argparse.ArgumentParser(prog="python -m scrapworker", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=d.SCRAPWORKER_CONCURRENCY,
                   help="jobs held and crawled at once (default %(default)s)")
    p.add_argument("--worker-id", default=None, help="name in job statuses (default host:pid)")
    p.add_argument("--lease-seconds", type=float, default=None,
                   help="lease term; a killed worker's job goes back after this long (default: queue settings, 60)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--max-jobs", type=int, default=0, help="exit after taking this many jobs (tests, benchmarks)")
    stop.add_argument("--once", action="store_true", help="same as --max-jobs 1")
    p.add_argument("--endpoints-dir", type=Path, default=None,
                   help="endpoint configs (default $LAKEHOUSE_ENDPOINTS_DIR or config/endpoints)")
    p.add_argument("--shutdown-grace", type=float, default=d.SCRAPWORKER_SHUTDOWN_GRACE,
                   help="on SIGTERM, seconds to finish jobs in hand before releasing them (default %(default)s)")
    p.add_argument("--rate-headroom", type=float, default=d.SCRAPWORKER_RATE_HEADROOM,
                   help="share of each endpoint's rate left unused to absorb network jitter (default %(default)s)")
    p.add_argument("--rate-slack", type=float, default=d.SCRAPWORKER_RATE_SLACK,
                   help="seconds a grant may come early so late wake-ups cost no rate; must stay below "
                        "the headroom's margin (default %(default)s)")
    p.add_argument("--queue-prefix", default=None, help="Redis key prefix (default: the settings' queue prefix)")
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.concurrency < 1:
        print("scrapworker: --concurrency must be at least 1", file=sys.stderr)
        return 2
    # Imported after argument parsing: --help stays fast and free of Scrapy's start-up.
    from scrapy.crawler import CrawlerProcess

    from lakehouse.endpoints import validate_all
    from scrapworker import context, settings
    from scrapworker.redaction import install_filter, secret_env_names
    from scrapworker.spider import QueueSpider

    from scrapworker.rate_settings import validate_rate_settings

    try:
        validate_rate_settings(args.rate_headroom, args.rate_slack)
    except ValueError as exc:
        print(f"scrapworker: {exc}", file=sys.stderr)
        return 2

    scrapy_settings = settings.as_dict() | {
        "LOG_LEVEL": args.log_level.upper(),
        "SCRAPWORKER_CONCURRENCY": args.concurrency,
        "SCRAPWORKER_WORKER_ID": args.worker_id,
        "SCRAPWORKER_LEASE_SECONDS": args.lease_seconds or 0,
        "SCRAPWORKER_MAX_JOBS": 1 if args.once else args.max_jobs,
        "SCRAPWORKER_ENDPOINTS_DIR": str(args.endpoints_dir) if args.endpoints_dir else None,
        "SCRAPWORKER_SHUTDOWN_GRACE": args.shutdown_grace,
        "SCRAPWORKER_RATE_HEADROOM": args.rate_headroom,
        "SCRAPWORKER_RATE_SLACK": args.rate_slack,
        "SCRAPWORKER_QUEUE_PREFIX": args.queue_prefix,
    }
    process = CrawlerProcess(scrapy_settings)
    log = logging.getLogger("scrapworker")
    # Mask the credentials of every endpoint this worker knows before anything logs;
    # jobs add the variables they name as they arrive.
    configs, _ = validate_all(args.endpoints_dir)
    install_filter(secret_env_names(configs))
    try:
        queue = context.queue(process.settings)  # fail fast, with a named error, if Redis is down
        context.landing().client.head_bucket(Bucket=context.landing().bucket)
    except LakehouseError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except Exception as exc:  # botocore raises many unrelated types for an unreachable S3
        log.error("cannot start: S3 bucket check failed: %s. Is the object store up (`lakehouse local up`)?", exc)
        return 2
    del queue
    process.crawl(QueueSpider)
    # Scrapy's handlers would stop the engine at once and strand the leases;
    # scrapworker.shutdown installs ours when the spider opens.
    process.start(install_signal_handlers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
