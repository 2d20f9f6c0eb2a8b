"""The shared PostgreSQL store (asyncpg): several bridge replicas on one database.

Same tables and schema versions as the SQLite store. What changes with
several processes: claiming an event is one ``INSERT ... ON CONFLICT``, so of
two replicas given the same event exactly one wins; and a thread's turn holds a
session-level advisory lock on its own pooled connection, so turns in one
thread are serialised across replicas. A replica that dies frees its locks
because PostgreSQL ends its sessions.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import asyncpg

from dify_bridge.core.types import MessageRecord, ThreadRecord
from dify_bridge.errors import StoreError
from dify_bridge.store import EVENT_TTL_SECONDS, redact_url

__all__ = ["PostgresStore", "thread_lock_id"]

log = logging.getLogger(__name__)

MIGRATIONS: tuple[str, ...] = (
    # 1: threads, answers, processed events (timestamps: seconds since the epoch)
    """
    CREATE TABLE threads (
        thread_key      TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        dify_user       TEXT NOT NULL,
        app             TEXT NOT NULL DEFAULT 'default',
        created_at      DOUBLE PRECISION NOT NULL,
        updated_at      DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE messages (
        message_key     TEXT PRIMARY KEY,
        dify_message_id TEXT NOT NULL,
        dify_user       TEXT NOT NULL,
        thread_key      TEXT NOT NULL,
        app             TEXT NOT NULL DEFAULT 'default',
        created_at      DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE events (
        event_key  TEXT PRIMARY KEY,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX events_expiry ON events (expires_at);
    """,
)

POOL_SIZE = 5
"""Connections for reads and writes (each call holds one for a single statement)."""
LOCK_POOL_SIZE = 20
"""Connections that hold thread locks: turns running at once in one replica.
More turns wait for a free one; none is dropped."""

_NOW = "extract(epoch FROM clock_timestamp())"
_MIGRATION_LOCK = 0x64696679_62726467  # "difybrdg": one replica migrates at a time
_PURGE_EVERY = 500
_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection killed mid-operation
    OSError,
    TimeoutError,
)


class PostgresStore:
    """Two asyncpg pools: one for statements, one for connections that hold thread locks."""

    def __init__(self, pool: asyncpg.Pool, locks: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self._locks = locks
        self._where = where
        self._claims = 0

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    @classmethod
    async def open(
        cls, url: str, *, pool_size: int = POOL_SIZE, lock_pool_size: int = LOCK_POOL_SIZE
    ) -> PostgresStore:
        """Connect to ``url`` (``postgresql://`` or ``postgres://``) and migrate the schema."""
        where = redact_url(url)
        pool = locks = None
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size, timeout=10)
            locks = await asyncpg.create_pool(url, min_size=0, max_size=lock_pool_size, timeout=10)
            async with pool.acquire() as conn:
                await _migrate(conn)
        except (*_ERRORS, ValueError) as exc:
            for opened in (pool, locks):
                if opened is not None:
                    opened.terminate()
            raise StoreError(f"cannot use the database {where}: {_one_line(exc)}") from None
        return cls(pool, locks, where)

    async def get_thread(self, thread_key: str) -> ThreadRecord | None:
        with self._translated("read a thread"):
            row = await self._pool.fetchrow(
                "SELECT conversation_id, dify_user, app FROM threads WHERE thread_key = $1",
                thread_key,
            )
        if row is None:
            return None
        return ThreadRecord(thread_key, str(row[0]), str(row[1]), str(row[2]))

    async def save_thread(self, record: ThreadRecord) -> None:
        with self._translated("save a thread"):
            await self._pool.execute(
                f"""
                INSERT INTO threads
                    (thread_key, conversation_id, dify_user, app, created_at, updated_at)
                VALUES ($1, $2, $3, $4, {_NOW}, {_NOW})
                ON CONFLICT (thread_key) DO UPDATE SET
                    conversation_id = excluded.conversation_id,
                    dify_user = excluded.dify_user,
                    app = excluded.app,
                    updated_at = excluded.updated_at
                """,
                record.thread_key,
                record.conversation_id,
                record.dify_user,
                record.app,
            )

    async def forget_thread(self, thread_key: str) -> None:
        with self._translated("forget a thread"):
            await self._pool.execute("DELETE FROM threads WHERE thread_key = $1", thread_key)

    async def save_messages(self, records: Sequence[MessageRecord]) -> None:
        if not records:
            return
        with self._translated("save messages"):
            await self._pool.execute(
                f"""
                INSERT INTO messages
                    (message_key, dify_message_id, dify_user, thread_key, app, created_at)
                SELECT *, {_NOW} FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                             $5::text[])
                ON CONFLICT (message_key) DO UPDATE SET
                    dify_message_id = excluded.dify_message_id,
                    dify_user = excluded.dify_user,
                    thread_key = excluded.thread_key,
                    app = excluded.app
                """,
                *_message_columns(records),
            )

    async def get_message(self, message_key: str) -> MessageRecord | None:
        with self._translated("read a message"):
            row = await self._pool.fetchrow(
                "SELECT dify_message_id, dify_user, thread_key, app FROM messages"
                " WHERE message_key = $1",
                message_key,
            )
        if row is None:
            return None
        return MessageRecord(message_key, str(row[0]), str(row[1]), str(row[2]), str(row[3]))

    async def claim_events(self, event_keys: Sequence[str], ttl: float = EVENT_TTL_SECONDS) -> bool:
        keys = sorted(set(event_keys))  # one order everywhere: concurrent claims cannot deadlock
        if not keys:
            return True
        self._claims += 1
        with self._translated("record an event"):
            async with self._pool.acquire() as conn:
                # one statement: a key is new, or its row has expired and is taken over;
                # a concurrent claim of the same key waits for this transaction to end
                transaction = conn.transaction()
                await transaction.start()
                try:
                    won = await conn.fetchval(
                        f"""
                        WITH claimed AS (
                            INSERT INTO events (event_key, expires_at)
                            SELECT unnest($1::text[]), {_NOW} + $2
                            ON CONFLICT (event_key) DO UPDATE
                                SET expires_at = excluded.expires_at
                                WHERE events.expires_at <= {_NOW}
                            RETURNING 1
                        )
                        SELECT count(*) FROM claimed
                        """,
                        keys,
                        float(ttl),
                    )
                    if won != len(keys):
                        await transaction.rollback()
                        return False
                    if self._claims % _PURGE_EVERY == 0:
                        await conn.execute(f"DELETE FROM events WHERE expires_at <= {_NOW}")
                except BaseException:
                    with contextlib.suppress(*_ERRORS):
                        await transaction.rollback()
                    raise
                await transaction.commit()
        return True

    @contextlib.asynccontextmanager
    async def thread_lock(self, thread_key: str) -> AsyncIterator[None]:
        lock_id = thread_lock_id(thread_key)
        with self._translated("lock a thread"):
            conn = await self._locks.acquire()
        try:
            with self._translated("lock a thread"):
                await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
            try:
                yield
            finally:
                try:
                    await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
                except _ERRORS as exc:
                    # the session is gone, and its locks with it; never reuse the connection
                    log.warning("thread lock of %s lost: %s", thread_key, _one_line(exc))
                    with contextlib.suppress(*_ERRORS):
                        conn.terminate()
        finally:
            # a release resets the session (pg_advisory_unlock_all) before anyone reuses it
            with contextlib.suppress(*_ERRORS):
                await self._locks.release(conn)

    async def close(self) -> None:
        for pool in (self._locks, self._pool):
            try:
                await pool.close()
            except _ERRORS:
                pool.terminate()

    # -- copying between stores (``dify-bridge migrate``) --

    async def dump_threads(self) -> AsyncIterator[ThreadRecord]:
        async for row in self._dump(
            "SELECT thread_key, conversation_id, dify_user, app FROM threads"
        ):
            yield ThreadRecord(*row)

    async def dump_messages(self) -> AsyncIterator[MessageRecord]:
        query = "SELECT message_key, dify_message_id, dify_user, thread_key, app FROM messages"
        async for row in self._dump(query):
            yield MessageRecord(*row)

    async def load(
        self, threads: Sequence[ThreadRecord], messages: Sequence[MessageRecord]
    ) -> tuple[int, int]:
        """Add the records this store does not have yet; returns how many of each were new."""
        with self._translated("copy records"):
            async with self._pool.acquire() as conn, conn.transaction():
                new_threads = await conn.fetchval(
                    f"""
                    WITH added AS (
                        INSERT INTO threads
                            (thread_key, conversation_id, dify_user, app, created_at, updated_at)
                        SELECT *, {_NOW}, {_NOW}
                            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                        ON CONFLICT (thread_key) DO NOTHING
                        RETURNING 1
                    )
                    SELECT count(*) FROM added
                    """,
                    [t.thread_key for t in threads],
                    [t.conversation_id for t in threads],
                    [t.dify_user for t in threads],
                    [t.app for t in threads],
                )
                new_messages = await conn.fetchval(
                    f"""
                    WITH added AS (
                        INSERT INTO messages
                            (message_key, dify_message_id, dify_user, thread_key, app, created_at)
                        SELECT *, {_NOW} FROM unnest($1::text[], $2::text[], $3::text[],
                                                     $4::text[], $5::text[])
                        ON CONFLICT (message_key) DO NOTHING
                        RETURNING 1
                    )
                    SELECT count(*) FROM added
                    """,
                    *_message_columns(messages),
                )
        return int(new_threads), int(new_messages)

    async def _dump(self, query: str) -> AsyncIterator[tuple[str, ...]]:
        with self._translated("read records"):
            async with self._pool.acquire() as conn, conn.transaction():
                async for row in conn.cursor(query + " ORDER BY 1"):
                    yield tuple(str(value) for value in row)

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except _ERRORS as exc:
            raise StoreError(f"cannot {action} in {self._where}: {_one_line(exc)}") from None


def thread_lock_id(thread_key: str) -> int:
    """The advisory lock key of a thread: a signed 64-bit hash of its key.

    Two threads that share a hash only share a queue; they never mix."""
    digest = hashlib.blake2b(thread_key.encode(), digest_size=8, person=b"dify-bridge").digest()
    return int.from_bytes(digest, "big", signed=True)


def _message_columns(records: Sequence[MessageRecord]) -> list[list[str]]:
    return [
        [r.message_key for r in records],
        [r.dify_message_id for r in records],
        [r.dify_user for r in records],
        [r.thread_key for r in records],
        [r.app for r in records],
    ]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


async def _migrate(conn: Any) -> None:
    """Bring the schema up to date; replicas starting together take turns."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = await conn.fetchval("SELECT version FROM schema_version") or 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await conn.execute(script)
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
