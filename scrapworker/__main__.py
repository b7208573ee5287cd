"""``python -m scrapworker``: one long-running Scrapy process serving the crawl queue.

    python -m scrapworker [--concurrency 4] [--worker-id ID] [--lease-seconds 60]
                          [--max-jobs N | --once] [--endpoints-dir DIR] [--shutdown-grace 30]

Settings (Redis, S3, the queue and the worker's own ``worker`` section) come from the
lakehouse profile (``LAKEHOUSE_PROFILE`` and ``LAKEHOUSE_*`` variables); each flag
overrides the setting of the same name (``--rate-headroom`` -> ``worker.rate_headroom``,
``--lease-seconds`` -> ``queue.lease_seconds``). API credentials come from the
environment variables the endpoint configs name. SIGTERM: finish or release the jobs
in hand, exit 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lakehouse.config.worker import WorkerSettings
from lakehouse.errors import LakehouseError
from lakehouse.queue.config import QueueSettings

# flag destination -> (settings section, field). Each flag overrides that one setting.
FLAG_SETTINGS: dict[str, tuple[str, str]] = {
    "concurrency": ("worker", "concurrency"),
    "worker_id": ("worker", "worker_id"),
    "max_jobs": ("worker", "max_jobs"),
    "shutdown_grace": ("worker", "shutdown_grace"),
    "stall_seconds": ("worker", "stall_seconds"),
    "rate_headroom": ("worker", "rate_headroom"),
    "rate_slack": ("worker", "rate_slack"),
    "log_level": ("worker", "log_level"),
    "lease_seconds": ("queue", "lease_seconds"),
    "queue_prefix": ("queue", "prefix"),
}


def _default(section: str, field: str) -> Any:
    models: dict[str, type[BaseModel]] = {"worker": WorkerSettings, "queue": QueueSettings}
    model = models[section]
    return model.model_fields[field].default


def _parser() -> argparse.ArgumentParser:
    # Flags default to None ("not given"): the settings hold the defaults, and the help
    # shows them. Only pydantic models are imported here, so --help stays fast.
    def default(dest: str) -> str:
        section, field = FLAG_SETTINGS[dest]
        return f"{section}.{field}, default {_default(section, field)}"

    p = argparse.ArgumentParser(prog="python -m scrapworker", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, help=f"jobs held and crawled at once ({default('concurrency')})")
    p.add_argument("--worker-id", help="name in job statuses (worker.worker_id, default host:pid)")
    p.add_argument(
        "--lease-seconds",
        type=float,
        help=f"lease term; a killed worker's job goes back after this long ({default('lease_seconds')})",
    )
    stop = p.add_mutually_exclusive_group()
    stop.add_argument(
        "--max-jobs",
        type=int,
        help="exit after taking this many jobs, tests and benchmarks (worker.max_jobs, default 0: never)",
    )
    stop.add_argument("--once", action="store_true", help="same as --max-jobs 1")
    p.add_argument(
        "--endpoints-dir",
        type=Path,
        default=None,
        help="endpoint configs (default $LAKEHOUSE_ENDPOINTS_DIR or config/endpoints)",
    )
    p.add_argument(
        "--shutdown-grace",
        type=float,
        help=f"on SIGTERM, seconds to finish jobs in hand before releasing them ({default('shutdown_grace')})",
    )
    p.add_argument(
        "--stall-seconds",
        type=float,
        help=f"fail a job when no page has landed for this long ({default('stall_seconds')})",
    )
    p.add_argument(
        "--rate-headroom",
        type=float,
        help=f"share of each endpoint's rate left unused to absorb network jitter ({default('rate_headroom')})",
    )
    p.add_argument(
        "--rate-slack",
        type=float,
        help="seconds a grant may come early so late wake-ups cost no rate; must stay below "
        f"the headroom's margin ({default('rate_slack')})",
    )
    p.add_argument("--queue-prefix", help=f"Redis key prefix ({default('queue_prefix')})")
    p.add_argument("--log-level", help=f"({default('log_level')})")
    return p


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given, as ``load_settings`` overrides by section."""
    if args.once:
        args.max_jobs = 1
    out: dict[str, dict[str, Any]] = {}
    for dest, (section, field) in FLAG_SETTINGS.items():
        value = getattr(args, dest)
        if value is not None:
            out.setdefault(section, {})[field] = value
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from lakehouse.config.settings import load_settings

    try:
        settings = load_settings(**overrides(args))
    except LakehouseError as exc:
        flags = ", ".join(f"--{dest.replace('_', '-')} -> {s}.{f}" for dest, (s, f) in FLAG_SETTINGS.items())
        print(f"scrapworker: {exc}\n(flags override settings: {flags})", file=sys.stderr)
        return 2
    # Imported after the settings validate: --help and a bad flag stay fast and free of
    # Scrapy's start-up (importing it installs the reactor).
    from scrapy.crawler import CrawlerProcess

    from lakehouse.endpoints import validate_all
    from scrapworker import context
    from scrapworker.redaction import install_filter, secret_env_names
    from scrapworker.settings import scrapy_settings
    from scrapworker.spider import QueueSpider

    process = CrawlerProcess(scrapy_settings(settings))
    log = logging.getLogger("scrapworker")
    # Mask the credentials of every endpoint this worker knows before anything logs;
    # jobs add the variables they name as they arrive.
    configs, _ = validate_all(args.endpoints_dir)
    scrub_filter = install_filter(secret_env_names(configs))
    # The stack's own secrets too: botocore's debug log prints the Authorization header,
    # whose Credential= part is the S3 access key id (found by the canary test).
    scrub_filter.add_values(
        secret.get_secret_value()
        for secret in (
            settings.s3.access_key_id,
            settings.s3.secret_access_key,
            settings.redis.password,
            settings.spark.connect_token,
        )
        if secret is not None
    )
    try:
        context.queue(settings)  # fail fast, with a named error, if Redis is down
        landing = context.landing(settings)
        landing.client.head_bucket(Bucket=landing.bucket)
    except LakehouseError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except Exception as exc:  # botocore raises many unrelated types for an unreachable S3
        log.error("cannot start: S3 bucket check failed: %s. Is the object store up (`lakehouse local up`)?", exc)
        return 2
    process.crawl(QueueSpider, endpoints_dir=args.endpoints_dir)
    # Scrapy's handlers would stop the engine at once and strand the leases;
    # scrapworker.shutdown installs ours when the spider opens.
    process.start(install_signal_handlers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
