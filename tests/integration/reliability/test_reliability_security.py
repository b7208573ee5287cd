"""Security of the running stack: Redis refuses clients without its password, the
password never shows on a command line, every listening socket of the stack's
processes is on loopback, and each of them refuses a client without the credential
(a protocol-appropriate probe per port; a port without one fails the test by name)."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import psutil
import pytest
import redis
import requests
import urllib3
from redis.backoff import NoBackoff
from redis.retry import Retry

from lakehouse.config.settings import SECRET_FIELDS, Settings, load_settings
from tests.conftest import free_port
from tests.spark_rpc import spark_rpc_refused

# The probes talk to self-signed HTTPS ports without verifying: they expect a refusal.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def test_redis_refuses_a_client_without_the_password(settings: Settings) -> None:
    assert settings.redis.password is not None, "the local stack must run Redis with a password"
    assert settings.redis.client(socket_timeout=5).ping()
    # No retries: redis-py retries an AuthenticationError (a ConnectionError) with backoff.
    once = Retry(NoBackoff(), 0)
    anonymous = redis.Redis(host=settings.redis.host, port=settings.redis.port, socket_timeout=5, retry=once)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    with pytest.raises(redis.AuthenticationError):
        anonymous.set("reliability:probe", "x")
    wrong = redis.Redis(
        host=settings.redis.host, port=settings.redis.port, password="not-the-password", socket_timeout=5, retry=once
    )
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()


def test_redis_password_file_is_private_and_not_on_argv(settings: Settings) -> None:
    secret = settings.local.secrets_dir / SECRET_FIELDS[("redis", "password")]
    assert secret.is_file()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    conf = settings.local.state_dir / "redis" / "redis.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    password = settings.redis.password.get_secret_value()
    for proc in _stack_processes(settings):
        try:
            argv = proc.cmdline()
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue  # exited (a short-lived child of a service) while we listed it: no argv left
        assert not any(password in part for part in argv), f"{proc.name()} carries the password on argv"


def _stack_processes(settings: Settings) -> list[psutil.Process]:
    state = json.loads((settings.local.state_dir / "stack.json").read_text())
    procs: list[psutil.Process] = []
    for record in state["services"].values():
        try:
            proc = psutil.Process(record["pid"])
        except psutil.NoSuchProcess:
            continue
        procs.append(proc)
        procs.extend(proc.children(recursive=True))
    return procs


def test_every_listening_socket_of_the_stack_is_on_loopback(settings: Settings) -> None:
    started = time.monotonic()
    procs = _stack_processes(settings)
    names = {p.name() for p in procs}
    assert any("redis" in n for n in names), names
    listening = []
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        listening += [
            (proc.pid, proc.name(), c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN
        ]
    assert listening, "no listening sockets found: is the stack running?"
    exposed = [entry for entry in listening if entry[2] not in LOOPBACK]
    assert not exposed, f"listening beyond loopback: {exposed}"
    print(
        f"{len(listening)} listening sockets of {len(procs)} processes ({sorted(names)}), all on loopback, "
        f"checked in {time.monotonic() - started:.2f} s"
    )


# -- every listening socket refuses an anonymous client --------------------------------

# gRPC's client preface: an HTTP/2 connection start and an empty SETTINGS frame.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")


@dataclass(frozen=True)
class Listener:
    service: str
    process: str
    port: int


@dataclass(frozen=True)
class Probe:
    """What an anonymous client tries on one port, and how it is turned away."""

    label: str
    attempt: Callable[[int], str]  # returns how it was refused; raises AssertionError if served


def _status(method: str, url: str, expected: set[int], **kwargs: object) -> str:
    resp = requests.request(method, url, timeout=10, verify=False, allow_redirects=False, **kwargs)  # type: ignore[arg-type]
    assert resp.status_code in expected, f"{method} {url} answered {resp.status_code}: {resp.text[:200]}"
    return f"{method} {urlparse(url).path} -> {resp.status_code}"


def _http(method: str, path: str, expected: set[int], scheme: str = "http") -> Callable[[int], str]:
    return lambda port: _status(method, f"{scheme}://127.0.0.1:{port}{path}", expected)


def _tls_without_client_certificate(port: int) -> str:
    """A TLS client with no certificate; the server must end the handshake (mutual
    TLS) before any request is read. Plain text must not be served either."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(_H2_PREFACE)
        plain = raw.recv(64)
        # A gRPC server speaking plain HTTP/2 answers the preface with a SETTINGS frame.
        assert plain[3:4] != b"\x04", f"port {port} speaks plain HTTP/2: {plain!r}"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(_H2_PREFACE + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = tls.recv(64)
        except (ssl.SSLError, ConnectionResetError) as exc:
            return f"TLS without a client certificate refused ({type(exc).__name__}: {exc.args[-1]})"
    raise AssertionError(f"port {port} served a client without a certificate: {answer!r}")


def _redis(settings: Settings) -> Callable[[int], str]:
    def attempt(port: int) -> str:
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        return "PING without the password -> AuthenticationError"

    return attempt


def _spark_connect(port: int) -> str:
    """A Spark Connect call without the token (gRPC local credentials, as the PySpark
    client uses for `localhost`)."""
    import grpc

    with grpc.secure_channel(f"localhost:{port}", grpc.local_channel_credentials()) as channel:
        call = channel.unary_unary("/spark.connect.SparkConnectService/Config")
        with pytest.raises(grpc.RpcError) as refused:
            call(b"", timeout=10)
    code = refused.value.code()  # type: ignore[attr-defined]
    assert code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), code
    return f"Config without the token -> {code.name}"


def _nessie_management(port: int) -> str:
    """Nessie's management port is the documented exception: health and Prometheus
    metrics stay readable without a credential, because the runner jar fixes both at
    build time (`quarkus.micrometer.export.prometheus.enabled` and
    `quarkus.management.ssl.client-auth` set at run time are ignored with a warning;
    tried on 0.108.8). It must serve nothing else: no catalog API, no write, no dev UI."""
    served = [_status("GET", f"http://127.0.0.1:{port}{path}", {200}) for path in ("/q/health/ready", "/q/metrics")]
    refused = [
        _status(method, f"http://127.0.0.1:{port}{path}", {404, 405})
        for method, path in (
            ("GET", "/api/v2/trees"),
            ("POST", "/api/v2/trees"),
            ("DELETE", "/api/v2/trees/main"),
            ("GET", "/iceberg/v1/config"),
            ("GET", "/q/dev-ui"),
            ("GET", "/q/openapi"),
            ("GET", "/q/info"),
        )
    ]
    return f"read-only health and metrics only ({', '.join(served)}); {'; '.join(refused)}"


#: services whose other ports are Spark's RPC (random: spark.driver.port, spark.blockManager.port)
SPARK_RPC_SERVICES = frozenset({"spark-connect", "spark-master", "spark-worker"})


def _probes(settings: Settings) -> dict[tuple[str, int], Probe]:
    """(service, port) -> the probe for each port a service of the stack is known to open."""
    from lakehouse.local.services.s3_server import admin_grpc_port
    from lakehouse.local.services.sandbox_server import sandbox_port

    local, wp = settings.local, settings.local.weed_ports
    mtls = _tls_without_client_certificate
    probes: dict[tuple[str, int], Probe] = {
        ("redis", settings.redis.port): Probe("redis", _redis(settings)),
        # S3 checks its own key pair: an unsigned request is AccessDenied.
        ("s3", settings.s3.port): Probe("s3 api", _http("GET", "/warehouse", {403})),
        ("nessie", settings.catalog.port): Probe("nessie api", _http("GET", "/api/v2/trees", {401})),
        # The one port that answers without a credential: see _nessie_management.
        ("nessie", local.nessie_management_port): Probe("nessie management", _nessie_management),
        ("spark-connect", local.spark_connect_port): Probe("spark connect", _spark_connect),
        ("airflow", settings.airflow.api_port): Probe("airflow api-server", _http("GET", "/api/v2/dags", {401, 403})),
        ("jupyter", local.jupyter_port): Probe("jupyter", _http("GET", "/api/contents", {403})),
        ("trino", local.trino_port): Probe("trino https", _http("GET", "/v1/query", {401}, scheme="https")),
        # Trino's node-to-node port: only requests signed with the shared secret.
        ("trino", local.trino_internal_port): Probe("trino internal", _http("GET", "/v1/query", {401, 403})),
        ("sandbox", sandbox_port()): Probe("sandbox api", _http("GET", "/v1/offset", {401})),
    }
    for label, port in (
        ("s3 grpc", wp.s3_grpc),
        ("master", wp.master),
        ("master grpc", wp.master_grpc),
        ("volume", wp.volume),
        ("volume grpc", wp.volume_grpc),
        ("filer", wp.filer),
        ("filer grpc", wp.filer_grpc),
        ("admin", wp.admin),
        ("admin grpc", admin_grpc_port(wp.admin)),
    ):
        probes[("s3", port)] = Probe(f"seaweedfs {label}", mtls)
    return probes


#: ports that may answer without a credential, and why (each one checked to say no more)
EXCEPTIONS: dict[tuple[str, int], str] = {}


def _recorded_ports(settings: Settings, service: str) -> list[int]:
    state = json.loads((settings.local.state_dir / "stack.json").read_text())
    record = state["services"].get(service)
    return list(record.get("ports", [])) if record else []


def _listeners(settings: Settings) -> list[Listener]:
    state = json.loads((settings.local.state_dir / "stack.json").read_text())
    found = []
    for service, record in state["services"].items():
        try:
            root = psutil.Process(record["pid"])
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                conns = proc.net_connections(kind="inet")
                name = proc.name()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            found += [Listener(service, name, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
    return sorted(set(found), key=lambda x: (x.service, x.port))


@pytest.fixture(scope="module")
def optional_services(stack, spark_connect_url: str) -> Iterator[None]:
    """Jupyter, the sandbox and a worker (quick to start) on free ports, if this
    session has not started them; Airflow and Trino are probed when their tests'
    session fixtures have started them (the whole suite does)."""
    from lakehouse.local.services.jupyter_server import JupyterService
    from lakehouse.local.services.sandbox_server import SANDBOX_PORT_ENV, SandboxService
    from lakehouse.local.services.worker_server import WorkerService
    from lakehouse.local.stack import LocalStack

    running = {s.service for s in LocalStack(load_settings()).status() if s.running}
    wanted = tuple(cls for cls in (JupyterService, SandboxService, WorkerService) if cls.name not in running)
    with pytest.MonkeyPatch.context() as env:
        if JupyterService in wanted:
            env.setenv("LAKEHOUSE_LOCAL__JUPYTER_PORT", str(free_port()))
        if SandboxService in wanted:
            env.setenv(SANDBOX_PORT_ENV, str(free_port()))
        server = LocalStack(load_settings(), services=wanted)
        server.up()
        try:
            yield
        finally:
            for cls in reversed(wanted):
                server.stop_service(cls.name)


def test_every_listening_socket_of_the_stack_refuses_an_anonymous_client(optional_services: None) -> None:
    settings = load_settings()
    started = time.monotonic()
    probes = _probes(settings)
    listeners = _listeners(settings)
    for listener in listeners:
        if listener.service in SPARK_RPC_SERVICES:
            probes.setdefault((listener.service, listener.port), Probe("spark rpc", spark_rpc_refused))
    # The Airflow tests' session fixture starts Airflow on a port of its own choosing,
    # which this test's settings do not name: probe the port the stack recorded for it.
    for port in _recorded_ports(settings, "airflow"):
        probes.setdefault(("airflow", port), Probe("airflow api-server", _http("GET", "/api/v2/dags", {401, 403})))
    unprobed = [x for x in listeners if (x.service, x.port) not in probes and (x.service, x.port) not in EXCEPTIONS]
    results, served = [], []
    for listener in listeners:
        key = (listener.service, listener.port)
        if key not in probes:
            continue
        probe = probes[key]
        try:
            results.append(f"{listener.service}:{listener.port} ({probe.label}): {probe.attempt(listener.port)}")
        except AssertionError as exc:
            served.append(f"{listener.service}:{listener.port} ({probe.label}): {exc}")
    print("\n".join(results))
    print(f"{len(results)} of {len(listeners)} sockets refused anonymous clients in {time.monotonic() - started:.1f} s")
    assert not unprobed, f"listening sockets with no probe (add one, or close the port): {unprobed}"
    assert not served, "served an anonymous client:\n" + "\n".join(served)


def test_the_state_dir_and_everything_in_it_are_owner_only(settings: Settings) -> None:
    """After the stack (and whatever this session ran on it) nothing in the state dir
    is readable by group or others: `find <state> -perm /o=r` finds nothing."""
    state = settings.local.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    readable = []
    for path in [state, *state.rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue  # a service's temporary file, gone meanwhile
        if not stat.S_ISLNK(mode) and mode & 0o077:
            readable.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(state)}")
    assert not readable, f"{len(readable)} entries readable beyond the owner: {readable[:20]}"
