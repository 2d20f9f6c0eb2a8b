"""Shard claims on PostgreSQL: session advisory locks on one dedicated connection.

The connection is not pooled: a pooled connection is reset when released,
which would drop its locks. When the process dies, PostgreSQL ends the session
and frees its locks at once (a killed process's socket closes); a connection
that dies while the process lives is noticed by asyncpg's termination listener
or, for a silent network, by :meth:`PostgresShardClaims.held`'s heartbeat.
The same session holds a member lock (the namespace and its pid), so the
replicas can count each other (:meth:`~PostgresShardClaims.members`) and each
take a fair share.
Either way every claim counts as lost, the adapter closes those shards'
gateways, and the next :meth:`~PostgresShardClaims.claim` opens a new session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable

import asyncpg

from dify_bridge.store.pg_locks import ERRORS, one_line, translated

__all__ = ["HEARTBEAT_TIMEOUT", "PostgresShardClaims", "member_namespace", "shard_lock_id"]

log = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT = 5.0
"""Seconds a heartbeat may take before the connection (and every claim) counts as lost."""


def member_namespace(name: str) -> int:
    """The first key of the member locks of ``name`` (the second is the backend's pid)."""
    digest = hashlib.blake2b(name.encode(), digest_size=4, person=b"dify-member").digest()
    return int.from_bytes(digest, "big", signed=True)


def shard_lock_id(name: str, shard_id: int) -> int:
    """The advisory lock key of one shard of ``name`` (e.g. ``discord``)."""
    digest = hashlib.blake2b(
        f"{name}:{shard_id}".encode(), digest_size=8, person=b"dify-shard"
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresShardClaims:
    def __init__(self, url: str, where: str, name: str) -> None:
        self._url = url
        self._where = where
        self._name = name
        self._conn: asyncpg.Connection | None = None
        self._held: set[int] = set()
        self._listeners: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()

    async def claim(self, shard_id: int) -> bool:
        async with self._lock:
            with translated(f"claim {self._name} shard {shard_id}", self._where):
                conn = await self._connection()
                won = bool(
                    await conn.fetchval(
                        "SELECT pg_try_advisory_lock($1)", shard_lock_id(self._name, shard_id)
                    )
                )
        if won:
            self._held.add(shard_id)
        return won

    async def release(self, shard_id: int) -> None:
        if shard_id not in self._held:
            return
        self._held.discard(shard_id)
        async with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                await conn.execute(
                    "SELECT pg_advisory_unlock($1)", shard_lock_id(self._name, shard_id)
                )
            except ERRORS as exc:
                self._drop(conn, one_line(exc))

    async def held(self) -> frozenset[int]:
        async with self._lock:
            conn = self._conn
            if conn is not None:
                try:
                    await conn.fetchval("SELECT 1", timeout=HEARTBEAT_TIMEOUT)
                except ERRORS as exc:
                    self._drop(conn, one_line(exc))
        return frozenset(self._held)

    async def members(self) -> int:
        async with self._lock:
            with translated(f"count the {self._name} replicas", self._where):
                conn = await self._connection()
                count = await conn.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND objsubid = 2 AND classid::int = $1"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())",
                    member_namespace(self._name),
                )
        return max(1, int(count or 0))

    def on_lost(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    async def close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            self._held.clear()
            if conn is not None:
                with contextlib.suppress(*ERRORS):
                    await asyncio.wait_for(conn.close(), timeout=5)
                if not conn.is_closed():
                    conn.terminate()

    async def _connection(self) -> asyncpg.Connection:
        conn = self._conn
        if conn is None or conn.is_closed():
            conn = await asyncpg.connect(
                self._url,
                timeout=10,
                server_settings={"application_name": f"dify-bridge {self._name} shards"},
            )
            conn.add_termination_listener(self._terminated)
            # membership: every replica's session holds one lock of the namespace
            await conn.execute(
                "SELECT pg_advisory_lock($1, pg_backend_pid())", member_namespace(self._name)
            )
            self._conn = conn
            self._held.clear()
        return conn

    def _terminated(self, conn: asyncpg.Connection) -> None:
        if conn is self._conn:
            self._drop(conn, "the connection closed")

    def _drop(self, conn: asyncpg.Connection, why: str) -> None:
        """The session is gone, and its locks with it."""
        if self._conn is None or id(conn) != id(self._conn):
            return  # an older connection, already dropped
        self._conn = None
        lost, self._held = self._held, set()
        with contextlib.suppress(*ERRORS):
            conn.terminate()
        if lost:
            log.warning(
                "lost the claims on %s shards %s (%s)",
                self._name,
                ", ".join(map(str, sorted(lost))),
                why,
            )
        for callback in list(self._listeners):
            callback()
