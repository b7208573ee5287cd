"""Security of the running stack: Redis refuses clients without its password, the
password never shows on a command line, and every listening socket of the stack's
processes is on loopback."""

from __future__ import annotations

import json
import stat
import time

import psutil
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lakehouse.settings import SECRET_FIELDS, Settings

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
