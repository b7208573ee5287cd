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

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel

from lakehouse.cli._errors import exit_code
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


def _model_default(section: str, field: str) -> Any:
    models: dict[str, type[BaseModel]] = {"worker": WorkerSettings, "queue": QueueSettings}
    model = models[section]
    return model.model_fields[field].default


def _default(dest: str) -> str:
    section, field = FLAG_SETTINGS[dest]
    return f"{section}.{field}, default {_model_default(section, field)}"


app = typer.Typer(add_completion=False)


# Flags default to None ("not given"): the settings hold the defaults, and the help
# shows them. Only pydantic models are imported here, so --help stays fast.
@app.command(help=__doc__.split("\n\n")[0] if __doc__ else None)
def _run(
    concurrency: int | None = typer.Option(None, help=f"jobs held and crawled at once ({_default('concurrency')})"),
    worker_id: str | None = typer.Option(None, help="name in job statuses (worker.worker_id, default host:pid)"),
    lease_seconds: float | None = typer.Option(
        None, help=f"lease term; a killed worker's job goes back after this long ({_default('lease_seconds')})"
    ),
    max_jobs: int | None = typer.Option(
        None, help="exit after taking this many jobs, tests and benchmarks (worker.max_jobs, default 0: never)"
    ),
    once: bool = typer.Option(False, "--once", help="same as --max-jobs 1"),
    endpoints_dir: Path | None = typer.Option(
        None, help="endpoint configs (default $LAKEHOUSE_ENDPOINTS_DIR or config/endpoints)"
    ),
    shutdown_grace: float | None = typer.Option(
        None, help=f"on SIGTERM, seconds to finish jobs in hand before releasing them ({_default('shutdown_grace')})"
    ),
    stall_seconds: float | None = typer.Option(
        None, help=f"fail a job when no page has landed for this long ({_default('stall_seconds')})"
    ),
    rate_headroom: float | None = typer.Option(
        None, help=f"share of each endpoint's rate left unused to absorb network jitter ({_default('rate_headroom')})"
    ),
    rate_slack: float | None = typer.Option(
        None,
        help="seconds a grant may come early so late wake-ups cost no rate; must stay below "
        f"the headroom's margin ({_default('rate_slack')})",
    ),
    queue_prefix: str | None = typer.Option(None, help=f"Redis key prefix ({_default('queue_prefix')})"),
    log_level: str | None = typer.Option(None, help=f"({_default('log_level')})"),
) -> int:
    if once and max_jobs is not None:
        raise typer.BadParameter("--once and --max-jobs exclude each other", param_hint="--once")
    flags = {
        "concurrency": concurrency,
        "worker_id": worker_id,
        "lease_seconds": lease_seconds,
        "max_jobs": max_jobs,
        "once": once,
        "shutdown_grace": shutdown_grace,
        "stall_seconds": stall_seconds,
        "rate_headroom": rate_headroom,
        "rate_slack": rate_slack,
        "queue_prefix": queue_prefix,
        "log_level": log_level,
    }
    return _serve(flags, endpoints_dir)


def overrides(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The flags given (by name; None: not given), as ``load_settings`` overrides by section."""
    given = dict(flags)
    if given.pop("once", False):
        given["max_jobs"] = 1
    out: dict[str, dict[str, Any]] = {}
    for dest, (section, field) in FLAG_SETTINGS.items():
        value = given.get(dest)
        if value is not None:
            out.setdefault(section, {})[field] = value
    return out


def _serve(flags: Mapping[str, Any], endpoints_dir: Path | None) -> int:
    from lakehouse.config.settings import load_settings

    try:
        settings = load_settings(**overrides(flags))
    except LakehouseError as exc:
        names = ", ".join(f"--{dest.replace('_', '-')} -> {s}.{f}" for dest, (s, f) in FLAG_SETTINGS.items())
        print(f"scrapworker: {exc}\n(flags override settings: {names})", file=sys.stderr)
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
    configs, _ = validate_all(endpoints_dir)
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
    process.crawl(QueueSpider, endpoints_dir=endpoints_dir)
    # Scrapy's handlers would stop the engine at once and strand the leases;
    # scrapworker.shutdown installs ours when the spider opens.
    process.start(install_signal_handlers=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code(app, argv, prog_name="python -m scrapworker")


if __name__ == "__main__":
    sys.exit(main())
