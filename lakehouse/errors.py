"""Named exceptions. Every message says what happened and what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class LakehouseError(Exception):
    """Base class: the CLI prints these without a traceback and exits non-zero."""


class UnknownProfileError(LakehouseError):
    def __init__(self, profile: str, available: list[str], directory: str) -> None:
        names = ", ".join(available) or "none"
        super().__init__(
            f"unknown profile {profile!r}: no {profile}.yaml in {directory} "
            f"(available: {names}). Set LAKEHOUSE_PROFILE to one of them."
        )


class SettingsError(LakehouseError):
    """A profile file or an environment override does not validate."""


class MissingSecretError(LakehouseError):
    def __init__(self, what: str, looked_in: list[str]) -> None:
        places = "\n  - ".join(looked_in)
        super().__init__(f"{what} is not set. Looked for it in:\n  - {places}")


class StackError(LakehouseError):
    """The local stack could not be brought up, stopped or inspected."""


class ServiceStartError(StackError):
    def __init__(self, service: str, reason: str, log_tail: str = "", log_path: str = "") -> None:
        self.service = service
        msg = f"{service} did not start: {reason}"
        if log_path:
            msg += f"\nlog: {log_path}"
        if log_tail:
            msg += f"\n--- last lines of the {service} log ---\n{log_tail.rstrip()}\n---"
        super().__init__(msg)


class PortInUseError(StackError):
    def __init__(self, service: str, port: int, setting: str) -> None:
        self.service = service
        self.port = port
        super().__init__(
            f"{service} cannot start: port {port} on 127.0.0.1 is already in use by another "
            f"process. Stop that process, or choose another port with {setting}=<port>."
        )


class JavaNotFoundError(StackError):
    def __init__(self, needed: str, looked_in: list[str]) -> None:
        places = "\n  - ".join(looked_in)
        super().__init__(
            f"no usable Java {needed} found. Looked in:\n  - {places}\n"
            "Run ./init.sh (it installs what is missing), or set JAVA_HOME."
        )


class MissingArtifactError(StackError):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(
            f"{name} is missing: expected it at {path}. Run ./init.sh (or "
            "`lakehouse artifacts fetch`) to download and verify it."
        )


class ChecksumMismatchError(LakehouseError):
    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{name}: sha256 {actual} does not match the pinned {expected}. The download "
            "was corrupted or the artifact changed upstream; delete it and run ./init.sh again."
        )


class EndpointConfigError(LakehouseError):
    """One endpoint config file (or a set of them) does not validate.

    Each problem is a (field path, message) pair; the string form puts the file in
    front of every line, so a reader can jump straight to the broken field.
    """

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}: {field}: {msg}" if field else f"{file}: {msg}" for field, msg in problems]
        super().__init__("\n".join(lines))

    @classmethod
    def from_validation(cls, file: str, exc: ValidationError, prefix: str = "") -> EndpointConfigError:
        """The problems of a model built from a config (a crawl job, its request), each
        field path under ``prefix``, without pydantic's "Value error, " noise."""
        problems = [
            (prefix + ".".join(str(p) for p in err["loc"]), str(err["msg"]).removeprefix("Value error, "))
            for err in exc.errors(include_url=False)
        ]
        return cls(file, problems)


class SlotError(LakehouseError):
    """A schedule or a slot time cannot be turned into a slot window."""


class EndpointConfigsError(EndpointConfigError):
    """Several endpoint configs failed; ``errors`` holds one EndpointConfigError per file."""

    def __init__(self, directory: str, errors: list[EndpointConfigError]) -> None:
        self.errors = errors
        self.file = directory
        self.problems = [problem for error in errors for problem in error.problems]
        LakehouseError.__init__(
            self,
            "\n".join(str(error) for error in errors)
            + f"\n{len(errors)} invalid endpoint config file(s) in {directory}: fix them, then "
            f"check with `lakehouse validate --dir {directory}`.",
        )


# --- queue and rate limiter (lakehouse.queue.crawl_queue, lakehouse.queue.ratelimit) -----------------


class QueueError(LakehouseError):
    """A queue operation could not be done as asked."""


class InvalidJobPayloadError(QueueError):
    """A job payload does not validate against lakehouse.queue.jobs.CrawlJob."""

    def __init__(self, details: str) -> None:
        self.details = details
        super().__init__(
            f"invalid crawl job payload: {details}. Build jobs with CrawlJob.for_slot() "
            "and the same lakehouse version on producer and worker."
        )


class LeaseLostError(QueueError):
    def __init__(self, run_id: str, lease_id: int, state: str | None, holder: str | None) -> None:
        self.run_id = run_id
        self.lease_id = lease_id
        self.state = state
        self.holder = holder
        now = f"state now {state}" if state else "no status any more"
        if holder:
            now += f", last leased by {holder}"
        super().__init__(
            f"lease {lease_id} on run {run_id} is no longer held ({now}): it expired and was "
            "handed back to the queue, or it was already acked or released. Stop writing for "
            "this run and drop it without acking; heartbeat more often than the lease time if "
            "this repeats."
        )


class JobNotFoundError(QueueError):
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"no status for run {run_id}: it was never enqueued on this Redis/prefix, or its "
            "terminal status expired. Check the run id (`lakehouse queue status`)."
        )


class WaitTimeoutError(QueueError):
    def __init__(self, run_id: str, timeout: float, state: str) -> None:
        self.run_id = run_id
        self.state = state
        super().__init__(
            f"run {run_id} is still {state} after {timeout:g}s. Is a worker running "
            "(`python -m scrapworker`)? Check `lakehouse queue status`, or wait longer."
        )


class RetryRefusedError(QueueError):
    """retry_dead cannot move the run back to the queue (not dead, active, or unreadable)."""


class QueueUnavailableError(QueueError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"cannot reach Redis at {url}: {reason.rstrip('.')}. Start the local stack "
            "(`lakehouse local up`) or check the redis settings (`lakehouse settings`)."
        )


class RateLimitTimeoutError(LakehouseError):
    def __init__(self, bucket: str, waited: float) -> None:
        self.bucket = bucket
        super().__init__(
            f"rate limit bucket {bucket!r} gave no slot within {waited:.1f}s (paused after a 429, "
            "or too many workers sharing it). Raise the timeout or check the endpoint's rate_limit."
        )
