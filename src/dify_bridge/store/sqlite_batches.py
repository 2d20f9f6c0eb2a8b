"""Statement batches run on the SQLite connection's own thread, for :mod:`.sqlite`.

A batch is one trip to that thread, and no statement of another call lands
between its statements, so it may open, fill and end a transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import aiosqlite

from dify_bridge.store.schema import MIGRATIONS, migration_ddl

__all__ = ["claim_and_follow", "migrate", "run_in_db_thread"]

T = TypeVar("T")


async def run_in_db_thread(db: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` on the connection's own thread: several statements in one trip, and
    no other call's statement between them (aiosqlite has no public API for this)."""
    connection: Any = db
    return cast(T, await connection._execute(fn, connection._conn))


def claim_and_follow(
    conn: sqlite3.Connection,
    claim: str,
    parameters: Sequence[object],
    follow: tuple[str, tuple[object, ...]],
) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        won = bool(conn.execute(claim, parameters).fetchall())
        if won:
            conn.execute(*follow)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return won


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to date in one transaction (a second process waits for it)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        for migration in [m for m in MIGRATIONS if m.version > version]:
            for statement in migration_ddl(migration.version, "sqlite"):
                conn.execute(statement)
            for fill in migration.backfills:
                rows = conn.execute(
                    f"SELECT {fill.key}, {fill.source} FROM {fill.table} WHERE {fill.column} = ''"
                ).fetchall()
                conn.executemany(
                    f"UPDATE {fill.table} SET {fill.column} = ? WHERE {fill.key} = ?",
                    [(fill.compute(source), key) for key, source in rows],
                )
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (migration.version,))
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
