"""The Airflow supervisor stops every process it started, however they behave."""

from __future__ import annotations

import io
import sys
import threading
import time

import psutil

from lakehouse.local.services.airflow_standalone import Supervisor

PY = sys.executable

# A component that ignores SIGTERM and leaves a grandchild in a process group of its
# own (as Airflow's task runners are) that ignores SIGTERM too.
STUBBORN = (
    "import os, signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "subprocess.Popen([sys.executable, '-c',"
    " 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'],"
    " process_group=0)\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)
POLITE = "import time; print('ready', flush=True); time.sleep(600)"


def _tree(pid: int) -> list[psutil.Process]:
    return [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]


def _wait_for(condition, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_stop_request_ends_every_component_and_what_they_left_behind() -> None:
    out = io.StringIO()
    sup = Supervisor(
        commands={"stubborn": [PY, "-c", STUBBORN], "polite": [PY, "-c", POLITE]}, grace_seconds=1.0, out=out
    )
    runner = threading.Thread(target=lambda: setattr(sup, "code", sup.run()))
    runner.start()
    _wait_for(lambda: out.getvalue().count("| ready") == 2)
    procs = [p for proc in sup.procs.values() for p in _tree(proc.pid)]
    assert len(procs) == 3

    sup.stop_requested.set()
    runner.join(timeout=30)

    assert not runner.is_alive()
    assert sup.code == 0
    assert not [p.pid for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert "killed 2 process(es)" in out.getvalue()


def test_a_component_that_dies_takes_the_others_down_and_fails_the_supervisor() -> None:
    out = io.StringIO()
    sup = Supervisor(
        commands={"dies": [PY, "-c", "raise SystemExit(3)"], "polite": [PY, "-c", POLITE]}, grace_seconds=1.0, out=out
    )

    assert sup.run() == 1

    assert "dies exited with code 3" in out.getvalue()
    assert all(proc.poll() is not None for proc in sup.procs.values())
