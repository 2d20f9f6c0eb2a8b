"""Thread turns serialised across replicas: advisory locks of many turns on one connection.

A turn holds its thread's session-level advisory lock for as long as it runs
(often tens of seconds). One connection per turn would cap a replica's
concurrent answers at its pool size, so every lock of a replica lives on one
connection: ``pg_try_advisory_lock`` takes it without blocking that connection
(a thread another replica holds is tried again after a short, growing pause;
that is rare, it needs the same thread's messages on two replicas at once),
``pg_advisory_unlock`` gives it back. Each call is one quick round trip, taken
in turn. A replica that dies frees its locks with its session; a connection
that fails is replaced for the next lock, and the turns whose locks it held
go on (their locks are gone, as with a dead replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from dify_bridge.store.pg_locks import ERRORS, one_line, thread_lock_id, translated

__all__ = ["ThreadLockKeeper"]

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MOST = 0.05, 0.5
"""Seconds before trying a thread another replica holds again: first, and at most."""
STATEMENT_SECONDS = 10.0
"""A lock call that hangs longer (a silent network) drops the connection."""


class ThreadLockKeeper:
    def __init__(self, pool: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self._where = where
        self._conn: Any = None
        self._turn = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def hold(self, thread_key: str) -> AsyncIterator[None]:
        """Hold ``thread_key``'s lock (waits while another replica holds it)."""
        lock_id = thread_lock_id(thread_key)
        pause = RETRY_FIRST
        while not await self._try(lock_id):
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MOST)
        try:
            yield
        finally:
            await self._unlock(lock_id, thread_key)

    async def _try(self, lock_id: int) -> bool:
        async with self._turn:
            with translated("lock a thread", self._where):
                conn = await self._connection()
                try:
                    return bool(
                        await conn.fetchval(
                            "SELECT pg_try_advisory_lock($1)", lock_id, timeout=STATEMENT_SECONDS
                        )
                    )
                except ERRORS:
                    self._drop()
                    raise

    async def _unlock(self, lock_id: int, thread_key: str) -> None:
        async with self._turn:
            conn = self._conn
            if conn is None:
                log.warning("thread lock of %s lost with its connection", thread_key)
                return
            try:
                released = await conn.fetchval(
                    "SELECT pg_advisory_unlock($1)", lock_id, timeout=STATEMENT_SECONDS
                )
            except ERRORS as exc:
                log.warning("thread lock of %s lost: %s", thread_key, one_line(exc))
                self._drop()
                return
            if not released:
                log.warning("thread lock of %s was no longer held", thread_key)

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._pool.acquire(timeout=STATEMENT_SECONDS)
        return self._conn

    def _drop(self) -> None:
        """The connection failed: its session, and every lock on it, are gone."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*ERRORS):
                conn.terminate()

    async def close(self) -> None:
        async with self._turn:
            conn, self._conn = self._conn, None
            if conn is not None:
                # a release resets the session (pg_advisory_unlock_all) before reuse
                with contextlib.suppress(*ERRORS):
                    await self._pool.release(conn)
