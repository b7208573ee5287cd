"""Make SQLite savepoints take the write lock up front, for Airflow's metadata DB.

Python's sqlite3 (3.11, legacy transaction control) opens a transaction only before
INSERT/UPDATE/DELETE, so a SAVEPOINT issued outside one starts a *deferred*
transaction: it reads under a snapshot and upgrades to a writer at its first write.
If another process committed in between (in WAL mode, which Airflow sets), SQLite
refuses the upgrade at once with "database is locked" (SQLITE_BUSY_SNAPSHOT); the
busy timeout never applies. Airflow creates every backfill run inside
`session.begin_nested()`, so `airflow backfill create` (and the UI's backfill
button) failed intermittently next to a busy scheduler.

Starting such a transaction with BEGIN IMMEDIATE takes the write lock first, so a
concurrent writer makes it wait (up to the connection's busy timeout) instead of
fail. Only transactions that *start* with a savepoint are affected; a savepoint
inside a transaction that already wrote holds the write lock anyway.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


def _begin_immediate(conn: Connection, name: str) -> None:
    if conn.dialect.name != "sqlite":
        return
    driver = conn.connection.driver_connection
    # aiosqlite and other wrappers manage their own transactions; only plain
    # sqlite3 connections have the legacy implicit-BEGIN behaviour this fixes.
    if isinstance(driver, sqlite3.Connection) and not driver.in_transaction:
        driver.execute("BEGIN IMMEDIATE")


def install(target: Any = Engine) -> None:
    """Register the hook on `target` (every engine by default; idempotent)."""
    if not event.contains(target, "savepoint", _begin_immediate):
        event.listen(target, "savepoint", _begin_immediate)


def installed(target: Any = Engine) -> bool:
    return event.contains(target, "savepoint", _begin_immediate)
