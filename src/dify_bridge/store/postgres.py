"""The shared PostgreSQL store (asyncpg): several bridge replicas on one database.

Same schema (:mod:`.schema`) and versions as the SQLite store. What changes
with several processes: claiming an event is one ``INSERT ... ON CONFLICT``,
so of two replicas given the same event exactly one wins; and a thread's turn
holds an advisory lock (:mod:`.pg_locks`) that spans the replicas.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import asyncpg

from dify_bridge.errors import StoreError
from dify_bridge.store.base import EVENT_TTL_SECONDS, redact_url
from dify_bridge.store.installations import InstallationRecords
from dify_bridge.store.pg_forms import PostgresForms
from dify_bridge.store.pg_locks import ERRORS, migrate, one_line, translated
from dify_bridge.store.pg_replicas import PostgresReplicaBoard
from dify_bridge.store.pg_shards import PostgresShardClaims
from dify_bridge.store.pg_thread_locks import ThreadLockKeeper
from dify_bridge.store.records import (
    MessageRecord,
    ThreadRecord,
)
from dify_bridge.store.replicas import ReplicaBoard
from dify_bridge.store.schema import channel_of
from dify_bridge.store.shards import ShardClaims

__all__ = ["LOCK_POOL_SIZE", "POOL_SIZE", "PostgresStore"]

POOL_SIZE = 5
"""Connections for reads and writes (each call holds one for a single statement)."""
LOCK_POOL_SIZE = 2
"""Connections for thread locks: one holds the locks of every turn of this replica
(:mod:`.pg_thread_locks`); the other replaces it when it fails."""

_NOW = "extract(epoch FROM clock_timestamp())"
_PURGE_EVERY = 500
_THREAD_FIELDS = "thread_key, conversation_id, dify_user, app"
_THREAD_INSERT = (
    "INSERT INTO threads"
    " (thread_key, conversation_id, dify_user, app, channel, created_at, updated_at)"
)
# $1 keys, $2 ttl; $3..$7 the thread to follow if the claim wins (NULL: none).
# Data-modifying CTEs all run, in one snapshot: the thread is followed only with
# the claim, and the caller rolls back a lost claim's partly taken keys.
_CLAIM = f"""
    WITH claimed AS (
        INSERT INTO events (event_key, expires_at)
        SELECT unnest($1::text[]), {_NOW} + $2
        ON CONFLICT (event_key) DO UPDATE
            SET expires_at = excluded.expires_at
            WHERE events.expires_at <= {_NOW}
        RETURNING 1
    ), outcome AS (
        SELECT count(*) = cardinality($1::text[]) AS won FROM claimed
    ), followed AS (
        {_THREAD_INSERT}
        SELECT $3::text, $4::text, $5::text, $6::text, $7::text, {_NOW}, {_NOW}
            FROM outcome WHERE outcome.won AND $3::text IS NOT NULL
        ON CONFLICT (thread_key) DO UPDATE
            SET channel = excluded.channel, updated_at = excluded.updated_at
    )
    SELECT won FROM outcome
"""


class PostgresStore(PostgresForms):
    """Two asyncpg pools: one for statements, one for connections that hold thread locks."""

    def __init__(self, pool: asyncpg.Pool, locks: asyncpg.Pool, where: str, url: str = "") -> None:
        self._url = url
        self._shard_claims: list[PostgresShardClaims] = []
        self._pool = pool
        self._locks = locks
        self._thread_locks = ThreadLockKeeper(locks, where)
        self._where = where
        self._claims = 0
        self._board = PostgresReplicaBoard(pool, where)

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
                await migrate(conn)
        except (*ERRORS, ValueError) as exc:
            for opened in (pool, locks):
                if opened is not None:
                    opened.terminate()
            raise StoreError(f"cannot use the database {where}: {one_line(exc)}") from None
        return cls(pool, locks, where, url)

    async def get_thread(self, thread_key: str) -> ThreadRecord | None:
        return await self._thread(
            f"SELECT {_THREAD_FIELDS} FROM threads WHERE thread_key = $1", thread_key
        )

    async def latest_thread(self, channel: str) -> ThreadRecord | None:
        return await self._thread(
            # a thread only followed (no conversation yet) has nothing to report
            f"SELECT {_THREAD_FIELDS} FROM threads WHERE channel = $1"
            " AND conversation_id <> '' ORDER BY updated_at DESC LIMIT 1",
            channel,
        )

    async def save_thread(self, record: ThreadRecord) -> None:
        with translated("save a thread", self._where):
            await self._pool.execute(
                f"""
                {_THREAD_INSERT} VALUES ($1, $2, $3, $4, $5, {_NOW}, {_NOW})
                ON CONFLICT (thread_key) DO UPDATE SET
                    conversation_id = excluded.conversation_id,
                    dify_user = excluded.dify_user,
                    app = excluded.app,
                    channel = excluded.channel,
                    updated_at = excluded.updated_at
                """,
                *_thread_row(record),
            )

    async def forget_thread(self, thread_key: str) -> None:
        with translated("forget a thread", self._where):
            await self._pool.execute("DELETE FROM threads WHERE thread_key = $1", thread_key)

    async def save_messages(self, records: Sequence[MessageRecord]) -> None:
        if not records:
            return
        with translated("save messages", self._where):
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
        with translated("read a message", self._where):
            row = await self._pool.fetchrow(
                "SELECT message_key, dify_message_id, dify_user, thread_key, app FROM messages"
                " WHERE message_key = $1",
                message_key,
            )
        return None if row is None else MessageRecord(*(str(value) for value in row))

    async def claim_events(
        self,
        event_keys: Sequence[str],
        ttl: float = EVENT_TTL_SECONDS,
        *,
        thread: ThreadRecord | None = None,
    ) -> bool:
        keys = sorted(set(event_keys))  # one order everywhere: concurrent claims cannot deadlock
        if not keys and thread is None:
            return True
        follow = _thread_row(thread) if thread is not None else (None,) * 5
        self._claims += 1
        with translated("record an event", self._where):
            async with self._pool.acquire() as conn:
                # a concurrent claim of the same key waits for this transaction to end
                transaction = conn.transaction()
                await transaction.start()
                try:
                    if not await conn.fetchval(_CLAIM, keys, float(ttl), *follow):
                        await transaction.rollback()
                        return False
                    if self._claims % _PURGE_EVERY == 0:
                        await conn.execute(f"DELETE FROM events WHERE expires_at <= {_NOW}")
                except BaseException:
                    with contextlib.suppress(*ERRORS):
                        await transaction.rollback()
                    raise
                await transaction.commit()
        return True

    def thread_lock(self, thread_key: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self._thread_locks.hold(thread_key)

    def shard_claims(self, name: str) -> ShardClaims:
        claims = PostgresShardClaims(self._url, self._where, name)
        self._shard_claims.append(claims)
        return claims

    def replica_board(self) -> ReplicaBoard:
        return self._board

    def slack_installations(self) -> InstallationRecords:
        return InstallationRecords(self._rows)

    async def _rows(self, sql: str, args: Sequence[object], what: str) -> list[tuple[object, ...]]:
        """One statement written with ``?`` placeholders (shared with SQLite) and its rows."""
        parts = sql.split("?")
        numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
        with translated(what, self._where):
            return [tuple(row) for row in await self._pool.fetch(numbered, *args)]

    async def close(self) -> None:
        for claims in self._shard_claims:
            await claims.close()
        await self._thread_locks.close()
        for pool in (self._locks, self._pool):
            try:
                await pool.close()
            except ERRORS:
                pool.terminate()

    # -- copying between stores (``dify-bridge migrate``) --

    async def dump_threads(self) -> AsyncIterator[ThreadRecord]:
        async for row in self._dump(f"SELECT {_THREAD_FIELDS} FROM threads"):
            yield ThreadRecord(*row)

    async def dump_messages(self) -> AsyncIterator[MessageRecord]:
        query = "SELECT message_key, dify_message_id, dify_user, thread_key, app FROM messages"
        async for row in self._dump(query):
            yield MessageRecord(*row)

    async def load(
        self, threads: Sequence[ThreadRecord], messages: Sequence[MessageRecord]
    ) -> tuple[int, int]:
        """Add the records this store does not have yet; returns how many of each were new."""
        with translated("copy records", self._where):
            async with self._pool.acquire() as conn, conn.transaction():
                new_threads = await conn.fetchval(
                    f"""
                    WITH added AS (
                        {_THREAD_INSERT}
                        SELECT *, {_NOW}, {_NOW} FROM unnest($1::text[], $2::text[],
                                                             $3::text[], $4::text[], $5::text[])
                        ON CONFLICT (thread_key) DO NOTHING
                        RETURNING 1
                    )
                    SELECT count(*) FROM added
                    """,
                    *_thread_columns(threads),
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

    async def _thread(self, query: str, value: str) -> ThreadRecord | None:
        with translated("read a thread", self._where):
            row = await self._pool.fetchrow(query, value)
        return None if row is None else ThreadRecord(*(str(v) for v in row))

    async def _dump(self, query: str) -> AsyncIterator[tuple[str, ...]]:
        with translated("read records", self._where):
            async with self._pool.acquire() as conn, conn.transaction():
                async for row in conn.cursor(query + " ORDER BY 1"):
                    yield tuple(str(value) for value in row)


def _thread_row(record: ThreadRecord) -> tuple[str, str, str, str, str]:
    channel = channel_of(record.thread_key)
    return (record.thread_key, record.conversation_id, record.dify_user, record.app, channel)


def _thread_columns(records: Sequence[ThreadRecord]) -> list[list[str]]:
    rows = [_thread_row(r) for r in records]
    return [[row[n] for row in rows] for n in range(5)]


def _message_columns(records: Sequence[MessageRecord]) -> list[list[str]]:
    return [
        [r.message_key for r in records],
        [r.dify_message_id for r in records],
        [r.dify_user for r in records],
        [r.thread_key for r in records],
        [r.app for r in records],
    ]
