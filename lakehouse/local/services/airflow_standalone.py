"""Airflow's four components under one parent: `python -m lakehouse.local.services.airflow_standalone`.

What `airflow standalone` does, minus two things the local stack cannot accept
(both seen with Airflow 3.3.2):

- standalone starts the scheduler and the triggerer with their log servers, which
  bind 0.0.0.0 and [::] on 8793/8794 whatever `[api] host` says (there is no host
  setting for them). On one machine the api-server reads task logs from the files
  directly, so here both run with `--skip-serve-logs` and nothing leaves loopback.
- standalone stops its children only on Ctrl-C: a SIGTERM to it alone orphans all
  of them, and a SIGTERM to the whole process group left the scheduler hanging on
  its executor's (already dead) workers. Here any stop signal, or any component
  exiting, stops every component, waits a grace period, then SIGKILLs whatever of
  the process tree is left, including task processes that Airflow put into their
  own process groups. The parent exits only once the tree is gone, so a caller
  that waits for this pid waits for all of Airflow.

The metadata DB must be migrated and the admin password file written before this
starts (AirflowService.prepare does both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

#: seconds between SIGTERM to the components and SIGKILL to what is left; the
#: stack escalates to SIGKILL on the whole group after its own stop timeout (20 s
#: or more), so this must be shorter for the orderly path to matter.
GRACE_SECONDS = 12.0

COMPONENTS: dict[str, list[str]] = {
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "api-server": ["api-server"],
}


def airflow_binary() -> str:
    return str(Path(sys.executable).parent / "airflow")


@dataclass
class Supervisor:
    #: name -> argv; Airflow's components by default
    commands: dict[str, list[str]] = field(
        default_factory=lambda: {name: [airflow_binary(), *args] for name, args in COMPONENTS.items()}
    )
    grace_seconds: float = GRACE_SECONDS
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, name: str, line: str) -> None:
        with self._write_lock:
            self.out.write(f"{name:13} | {line}\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in stream:
            self.say(name, raw.decode(errors="replace").rstrip())

    def start(self) -> None:
        for name, argv in self.commands.items():
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            self.procs[name] = proc
            threading.Thread(target=self._pump, args=(name, proc.stdout), daemon=True).start()
            self.say("supervisor", f"started {name} (pid {proc.pid})")

    def exited(self) -> list[tuple[str, int]]:
        return [(n, p.returncode) for n, p in self.procs.items() if p.poll() is not None]

    def run(self) -> int:
        self.start()
        while not self.stop_requested.wait(0.5):
            if gone := self.exited():
                for name, code in gone:
                    self.say("supervisor", f"{name} exited with code {code}; stopping the other components")
                self.stop()
                return 1
        self.say("supervisor", "stop requested")
        self.stop()
        return 0

    def stop(self) -> None:
        tree = self._component_trees()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + self.grace_seconds
        while time.monotonic() < deadline:
            # Re-read the trees: a dying parent's orphans leave them, so keep everyone seen.
            tree.update(self._component_trees())
            if not any(_running(p) for p in tree.values()):
                break
            time.sleep(0.2)
        leftovers = [p for p in tree.values() if _running(p)]
        for leftover in leftovers:
            try:
                leftover.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(leftovers, timeout=5)
        for popen in self.procs.values():
            try:
                popen.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        if leftovers:
            self.say(
                "supervisor", f"killed {len(leftovers)} process(es) that did not stop within {self.grace_seconds:.0f} s"
            )
        self.say("supervisor", "all components stopped")

    def _component_trees(self) -> dict[int, psutil.Process]:
        """The components and all their descendants (only those: never our other children)."""
        found: dict[int, psutil.Process] = {}
        for popen in self.procs.values():
            try:
                root = psutil.Process(popen.pid)
                found[root.pid] = root
                found.update({c.pid: c for c in root.children(recursive=True)})
            except psutil.NoSuchProcess:
                pass
        return found


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def main() -> int:
    supervisor = Supervisor()

    def request_stop(signum: int, _frame: object) -> None:
        supervisor.stop_requested.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, request_stop)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
