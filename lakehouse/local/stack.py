"""Start, watch and stop the local services; the state of what runs lives in one file.

`up` is idempotent (a healthy service is left alone), `down` stops exactly the
processes `up` recorded (checked by pid *and* start time, so a recycled pid is
never killed), and a failed `up` stops what it started, leaving no half-stack.

Supervision: a service that `up` recorded and that died without `down` (killed, out
of memory) is started again by the next `up`, whatever `--with` that `up` names:
the record says the user wanted it running. The transform tasks call `up` for the
Spark Connect server through lakehouse.engines.engine.ensure_engine before each attempt.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from filelock import FileLock

from lakehouse.config.settings import Settings, load_settings, read_secret_files
from lakehouse.errors import PortInUseError, ServiceStartError, StackError
from lakehouse.local.credentials import ensure_local_credentials
from lakehouse.local.files import PRIVATE_UMASK, make_private, private_umask, write_private
from lakehouse.local.service import Service
from lakehouse.local.services.airflow_server import AirflowService
from lakehouse.local.services.jupyter_server import JupyterService
from lakehouse.local.services.nessie_server import NessieService
from lakehouse.local.services.redis_server import RedisService
from lakehouse.local.services.s3_server import S3Service
from lakehouse.local.services.sandbox_server import SandboxService
from lakehouse.local.services.spark_connect_server import SparkConnectService
from lakehouse.local.services.spark_server import SparkMasterService, SparkWorkerService
from lakehouse.local.services.trino_server import TrinoService
from lakehouse.local.services.worker_server import WorkerService
from lakehouse.tables.bootstrap import bootstrap

#: start order; `down` goes in reverse
CORE_SERVICES: tuple[type[Service], ...] = (RedisService, S3Service, NessieService)

#: started only on request (`lakehouse local up --with spark`), after the core services
OPTIONAL_SERVICES: dict[str, tuple[type[Service], ...]] = {
    "spark": (SparkMasterService, SparkWorkerService),
    "spark-connect": (SparkConnectService,),
    "sandbox": (SandboxService,),
    "worker": (WorkerService,),
    "airflow": (AirflowService,),
    "jupyter": (JupyterService,),
    "trino": (TrinoService,),
}


def services_with(extras: list[str] | tuple[str, ...] = ()) -> tuple[type[Service], ...]:
    """The core services plus the named optional groups, in start order."""
    unknown = sorted(set(extras) - set(OPTIONAL_SERVICES))
    if unknown:
        raise StackError(
            f"unknown optional service(s) {', '.join(unknown)}; available: {', '.join(sorted(OPTIONAL_SERVICES))}"
        )
    chosen = list(CORE_SERVICES)
    for extra in dict.fromkeys(extras):
        chosen.extend(s for s in OPTIONAL_SERVICES[extra] if s not in chosen)
    return tuple(chosen)


EventHook = Callable[[str, str], None]


@dataclass
class ProcessRecord:
    pid: int
    create_time: float
    command: list[str]
    log: str
    started_at: float
    ports: list[int]


@dataclass
class ServiceStatus:
    service: str
    url: str
    port: int
    pid: int | None
    running: bool
    healthy: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class UpResult:
    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    namespaces_created: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)  # recorded, found dead, started again
    total_seconds: float = 0.0


class LocalStack:
    def __init__(
        self,
        settings: Settings | None = None,
        services: tuple[type[Service], ...] = CORE_SERVICES,
        on_event: EventHook | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.state_dir = self.settings.local.state_dir
        self._service_types = services
        self._on_event = on_event or (lambda service, message: None)

    # -- public API ---------------------------------------------------------------

    @property
    def services(self) -> list[Service]:
        return [cls(self.settings) for cls in self._service_types]

    def _services_to_run(self, state: dict[str, ProcessRecord]) -> list[Service]:
        """The chosen services, plus optional ones an earlier `up` recorded that have
        died since: those are restarted, in their group's start order. A recorded one
        that still runs is left to whoever started it (its settings may differ)."""
        types = list(self._service_types)
        for group in OPTIONAL_SERVICES.values():
            types.extend(cls for cls in group if cls.name in state and not _alive(state[cls.name]) and cls not in types)
        return [cls(self.settings) for cls in types]

    def up(self) -> UpResult:
        started_at = time.monotonic()
        # Owner-only from the first directory on: the state dir holds keys, the Airflow
        # DB, Redis' AOF and logs. An older install's modes are narrowed too.
        with private_umask():
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if changed := make_private(self.state_dir):
                self._on_event("stack", f"made {changed} entries of {self.state_dir} owner-only")
            return self._up(started_at)

    def _up(self, started_at: float) -> UpResult:
        result = UpResult()
        with self._lock():
            if ensure_local_credentials(self.settings):
                self._on_event(
                    "stack", "generated this stack's secrets (S3 key pair, Spark Connect token, catalog token)"
                )
            # Reload so the generated (or pre-existing) secret files are picked up;
            # explicit settings objects keep their overrides.
            self.settings = _with_secrets(self.settings)
            state = self._read_state()
            started_now: list[Service] = []
            services = self._services_to_run(state)
            try:
                for service in services:
                    t0 = time.monotonic()
                    record = state.get(service.name)
                    if record and _alive(record):
                        self._on_event(service.name, "running; checking health")
                        self._wait_healthy(service, record)
                        result.already_running.append(service.name)
                    else:
                        if record is not None:
                            # Recorded but dead: it died without `down`. Start it again.
                            self._on_event(service.name, f"died (pid {record.pid}); restarting")
                            result.restarted.append(service.name)
                            state.pop(service.name)
                        self._check_ports_free(service)
                        service.prepare()
                        self._on_event(service.name, f"starting on port {service.main_port}")
                        record = self._spawn(service)
                        state[service.name] = record
                        self._write_state(state)
                        started_now.append(service)
                        self._wait_healthy(service, record)
                        result.started.append(service.name)
                    service.after_healthy()
                    result.seconds[service.name] = round(time.monotonic() - t0, 2)
                    self._on_event(service.name, f"healthy at {service.url}")
                if any(s.name == "nessie" for s in services):
                    self._on_event("catalog", "bootstrapping namespaces")
                    boot = bootstrap(self.settings)
                    result.namespaces = boot.namespaces
                    result.namespaces_created = boot.created
            except BaseException:
                # Leave nothing half-started: stop what this call started, newest first.
                for service in reversed(started_now):
                    self._stop_one(service.name, state)
                self._write_state(state)
                raise
        result.total_seconds = round(time.monotonic() - started_at, 2)
        return result

    def down(self) -> list[tuple[str, str]]:
        """Stop every recorded service, newest first. Returns (service, what happened)."""
        outcome: list[tuple[str, str]] = []
        if not self.state_dir.exists():
            return outcome
        with self._lock():
            state = self._read_state()
            # Newest first: optional services (workers, Airflow) started after the core
            # ones they depend on stop before Redis, S3 and Nessie go away.
            names = sorted(state, key=lambda n: state[n].started_at, reverse=True)
            for name in names:
                self._on_event(name, "stopping")
                outcome.append((name, self._stop_one(name, state)))
                self._write_state(state)
            # SeaweedFS writes its volume info files (*.vif) 0644 whatever the umask
            # it runs under: narrow what the services left behind.
            make_private(self.state_dir)
        return outcome

    def stop_service(self, name: str) -> str:
        """Stop one service (outage drills, restarts); `up` brings it back."""
        with self._lock():
            state = self._read_state()
            outcome = self._stop_one(name, state)
            self._write_state(state)
        return outcome

    def status(self) -> list[ServiceStatus]:
        state = self._read_state()
        settings = _with_secrets(self.settings)
        rows = []
        # Optional services started by another `up --with ...` show too.
        known = {cls.name: cls for group in OPTIONAL_SERVICES.values() for cls in group}
        types = list(self._service_types)
        types += [known[n] for n in state if n in known and known[n] not in types]
        for service in (cls(settings) for cls in types):
            record = state.get(service.name)
            running = bool(record and _alive(record))
            rows.append(
                ServiceStatus(
                    service=service.name,
                    url=service.url,
                    port=service.main_port,
                    pid=record.pid if record and running else None,
                    running=running,
                    healthy=running and service.is_healthy(),
                )
            )
        return rows

    def log_tail(self, service_name: str, lines: int = 40) -> str:
        path = self.state_dir / "logs" / f"{service_name}.log"
        return _tail(path, lines) if path.exists() else ""

    # -- internals ----------------------------------------------------------------

    def _lock(self) -> FileLock:
        # Two `up`s at once (a user and a test, two terminals) must not both spawn.
        return FileLock(str(self.state_dir / ".stack.lock"), timeout=600, mode=0o600)

    @property
    def _state_path(self) -> Path:
        return self.state_dir / "stack.json"

    def _read_state(self) -> dict[str, ProcessRecord]:
        try:
            raw = json.loads(self._state_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {name: ProcessRecord(**rec) for name, rec in raw.get("services", {}).items()}

    def _write_state(self, state: dict[str, ProcessRecord]) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        write_private(tmp, json.dumps({"services": {n: asdict(r) for n, r in state.items()}}, indent=2))
        tmp.replace(self._state_path)

    def _check_ports_free(self, service: Service) -> None:
        host = self.settings.local.bind_host
        for port in service.ports():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                # Servers set SO_REUSEADDR, so a port in TIME_WAIT is free for them too.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, port.number))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        label = service.name if port.label == service.name else f"{service.name} ({port.label})"
                        raise PortInUseError(label, port.number, port.setting) from exc
                    raise

    def _spawn(self, service: Service) -> ProcessRecord:
        command = service.command()
        log_path = service.log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {service.name}\n".encode())
            log.flush()
            offset = log.tell()
            env = {**os.environ, **service.env()}
            try:
                proc = subprocess.Popen(
                    command,
                    cwd=service.cwd(),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session: it outlives this command, and `down` can signal
                    # the whole group.
                    start_new_session=True,
                    # Whatever it (and its children) create is owner-only: databases,
                    # AOF files, logs, unix sockets.
                    umask=PRIVATE_UMASK,
                )
            except OSError as exc:
                raise ServiceStartError(service.name, f"could not run {command[0]}: {exc}") from exc
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.NoSuchProcess:
            create_time = 0.0
        record = ProcessRecord(
            pid=proc.pid,
            create_time=create_time,
            command=command,
            log=str(log_path),
            started_at=time.time(),
            ports=[p.number for p in service.ports()],
        )
        record._log_offset = offset  # type: ignore[attr-defined]
        return record

    def _wait_healthy(self, service: Service, record: ProcessRecord) -> None:
        deadline = time.monotonic() + self.settings.local.startup_timeout_seconds
        delay = 0.1
        while time.monotonic() < deadline:
            if service.is_healthy():
                return
            if not _alive(record):
                raise ServiceStartError(
                    service.name,
                    f"the process (pid {record.pid}) exited before it became healthy",
                    self._tail_since_start(record),
                    record.log,
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)
        raise ServiceStartError(
            service.name,
            f"not healthy after {self.settings.local.startup_timeout_seconds:.0f} s "
            "(raise LAKEHOUSE_LOCAL__STARTUP_TIMEOUT_SECONDS on a slow machine)",
            self._tail_since_start(record),
            record.log,
        )

    def _tail_since_start(self, record: ProcessRecord, lines: int = 40) -> str:
        path = Path(record.log)
        if not path.exists():
            return ""
        offset = getattr(record, "_log_offset", 0)
        with path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _stop_one(self, name: str, state: dict[str, ProcessRecord]) -> str:
        record = state.pop(name, None)
        if record is None or not _alive(record):
            return "not running"
        known = {cls.name: cls for cls in self._service_types}
        known.update({cls.name: cls for group in OPTIONAL_SERVICES.values() for cls in group})
        timeout = known[name].stop_timeout if name in known else 20.0
        try:
            pgid = os.getpgid(record.pid)
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return "not running"
        try:
            psutil.Process(record.pid).wait(timeout=timeout)
            return "stopped"
        except psutil.TimeoutExpired:
            try:
                os.killpg(pgid, signal.SIGKILL)
                psutil.Process(record.pid).wait(timeout=10)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
            return f"killed (did not stop within {timeout:.0f} s)"
        except psutil.NoSuchProcess:
            return "stopped"


def _alive(record: ProcessRecord) -> bool:
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) > 1.0:
            return False  # the pid was recycled by an unrelated process
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _with_secrets(settings: Settings) -> Settings:
    """The same settings with secret files of the state dir filled in."""
    secrets = read_secret_files(settings.local.state_dir)
    if not secrets:
        return settings
    data = settings.model_dump()
    changed = False
    for section, values in secrets.items():
        for key, value in values.items():
            if data[section].get(key) is None:
                data[section][key] = value
                changed = True
    return Settings.model_validate(data) if changed else settings


def _tail(path: Path, lines: int) -> str:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 64 * 1024))
        text = fh.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])
