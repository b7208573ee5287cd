"""The savepoint hook turns SQLite's instant 'database is locked' into a wait.

Reproduces what broke `airflow backfill create` next to a busy scheduler: a
transaction that starts with a SAVEPOINT reads, another process commits a write,
and the first transaction's write is refused at once (SQLITE_BUSY_SNAPSHOT).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from lakehouse_airflow import sqlite_savepoints

pytestmark = pytest.mark.unit


def _db(tmp_path: Path) -> Path:
    path = tmp_path / "airflow.db"
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")  # what Airflow sets on every connection
    con.execute("CREATE TABLE dag_run (id INTEGER)")
    con.commit()
    con.close()
    return path


def _backfill_like_transaction(engine, path: Path) -> threading.Thread:
    """Airflow's pattern: savepoint, read, (a scheduler writes), write, commit."""

    def scheduler_write() -> None:
        con = sqlite3.connect(path, timeout=30)
        con.execute("INSERT INTO dag_run VALUES (2)")
        con.commit()
        con.close()
        written.set()

    written = threading.Event()
    writer = threading.Thread(target=scheduler_write)
    with Session(engine) as session:
        with session.begin_nested():
            session.execute(text("SELECT count(*) FROM dag_run")).scalar()
            writer.start()
            # Without the hook the other writer commits at once; with it, it must
            # wait for this transaction, so give it a moment either way.
            written.wait(timeout=1)
            session.execute(text("INSERT INTO dag_run VALUES (1)"))
        session.commit()
    return writer


def test_without_the_hook_sqlite_refuses_the_write_at_once(tmp_path: Path) -> None:
    path = _db(tmp_path)
    engine = create_engine(f"sqlite:///{path}?timeout=30")
    with pytest.raises(OperationalError, match="database is locked"):
        _backfill_like_transaction(engine, path).join()
    assert not sqlite_savepoints.installed(engine)


def test_with_the_hook_the_write_waits_and_both_land(tmp_path: Path) -> None:
    path = _db(tmp_path)
    engine = create_engine(f"sqlite:///{path}?timeout=30")
    sqlite_savepoints.install(engine)
    sqlite_savepoints.install(engine)  # idempotent
    writer = _backfill_like_transaction(engine, path)
    writer.join(timeout=30)
    assert not writer.is_alive()
    with engine.connect() as conn:
        assert sorted(conn.execute(text("SELECT id FROM dag_run")).scalars()) == [1, 2]


def test_airflow_processes_load_the_hook(tmp_path: Path) -> None:
    """Every Airflow process imports airflow_local_settings from airflow_env's PYTHONPATH."""
    import json
    import os
    import subprocess
    import sys

    from lakehouse.config.settings import load_settings
    from lakehouse.engines.airflow_env import airflow_env

    # A process as Airflow's components start: the machine's basics plus airflow_env,
    # not whatever earlier tests of this session left in os.environ.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(airflow_env(load_settings(), tmp_path))
    probe = (
        "import json, sys, airflow.settings as s;"
        "from lakehouse_airflow.sqlite_savepoints import installed;"
        "m = sys.modules.get('airflow_local_settings');"
        "print(json.dumps([installed(), getattr(m, '__file__', None), sys.path]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    hooked, local_settings_file, path = json.loads(out.stdout.strip().splitlines()[-1])
    assert hooked is True, (local_settings_file, path, out.stderr[-3000:])


def test_the_hook_directory_is_the_adapters_even_when_a_same_named_package_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest puts tests/integration on sys.path, whose lakehouse_airflow test package
    once hid the adapter's local_settings from every Airflow process the tests started."""
    import sys

    from lakehouse.config import paths
    from lakehouse.engines.airflow_env import local_settings_dir

    decoy = tmp_path / "lakehouse_airflow"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delitem(sys.modules, "lakehouse_airflow")  # as in a process that has not imported it
    assert local_settings_dir() == paths.PROJECT_ROOT / "lakehouse_airflow" / "local_settings"
    assert (local_settings_dir() / "airflow_local_settings.py").is_file()
