"""PostgreSQL advisory locks (thread turns, migrations) and errors, for :mod:`.postgres`.

Thread turns hold session-level advisory locks (:mod:`.pg_thread_locks`), so
turns in one thread are serialised across replicas; a replica that dies frees
its locks because PostgreSQL ends its sessions. Migrations take a
transaction-level lock, so replicas starting together take turns.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import asyncpg

from dify_bridge.errors import StoreError
from dify_bridge.store.schema import MIGRATIONS, migration_ddl

__all__ = [
    "ERRORS",
    "MIGRATION_LOCK",
    "migrate",
    "one_line",
    "thread_lock_id",
    "translated",
]

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x64696679_62726467  # "difybrdg": one replica migrates at a time
"""The ``pg_advisory_xact_lock`` key held while the schema is brought up to date."""

ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection killed mid-operation
    OSError,
    TimeoutError,
)
"""What asyncpg raises when the database or the connection fails."""


def thread_lock_id(thread_key: str) -> int:
    """The advisory lock key of a thread: a signed 64-bit hash of its key.

    Two threads that share a hash only share a queue; they never mix."""
    digest = hashlib.blake2b(thread_key.encode(), digest_size=8, person=b"dify-bridge").digest()
    return int.from_bytes(digest, "big", signed=True)


def one_line(exc: BaseException) -> str:
    """An error as one line of text, for a :class:`StoreError` or a log line."""
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def translated(action: str, where: str) -> Iterator[None]:
    """Turn a database failure into a one-line :class:`StoreError`."""
    try:
        yield
    except ERRORS as exc:
        raise StoreError(f"cannot {action} in {where}: {one_line(exc)}") from None


async def migrate(conn: Any) -> None:
    """Bring the schema up to date; replicas starting together take turns."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = await conn.fetchval("SELECT version FROM schema_version") or 0
        for migration in [m for m in MIGRATIONS if m.version > version]:
            for statement in migration_ddl(migration.version, "postgres"):
                await conn.execute(statement)
            for fill in migration.backfills:
                rows = await conn.fetch(
                    f"SELECT {fill.key}, {fill.source} FROM {fill.table} WHERE {fill.column} = ''"
                )
                await conn.execute(
                    f"UPDATE {fill.table} SET {fill.column} = filled.value"
                    " FROM unnest($1::text[], $2::text[]) AS filled (key, value)"
                    f" WHERE {fill.table}.{fill.key} = filled.key",
                    [row[0] for row in rows],
                    [fill.compute(row[1]) for row in rows],
                )
            await conn.execute("DELETE FROM schema_version")
            await conn.execute(
                "INSERT INTO schema_version (version) VALUES ($1)", migration.version
            )
