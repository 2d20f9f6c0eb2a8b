"""The embedded SQLite store (aiosqlite, WAL mode, versioned schema)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiosqlite

from dify_bridge.core.types import MessageRecord, ThreadRecord
from dify_bridge.errors import StoreError
from dify_bridge.store import EVENT_TTL_SECONDS

MIGRATIONS: tuple[str, ...] = (
    # 1: threads, answers, processed events
    """
    CREATE TABLE threads (
        thread_key      TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL,
        dify_user       TEXT NOT NULL,
        app             TEXT NOT NULL DEFAULT 'default',
        created_at      REAL NOT NULL,
        updated_at      REAL NOT NULL
    );
    CREATE TABLE messages (
        message_key     TEXT PRIMARY KEY,
        dify_message_id TEXT NOT NULL,
        dify_user       TEXT NOT NULL,
        thread_key      TEXT NOT NULL,
        app             TEXT NOT NULL DEFAULT 'default',
        created_at      REAL NOT NULL
    );
    CREATE TABLE events (
        event_key  TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    );
    CREATE INDEX events_expiry ON events (expires_at);
    """,
)

_PURGE_EVERY = 500


class SqliteStore:
    """One aiosqlite connection; each method is one transaction."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self._path = path
        self._claims = 0
        # held only by multi-statement transactions (``load``)
        self._write_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    @classmethod
    async def open(cls, path: str, *, busy_timeout: float = 5.0) -> SqliteStore:
        """Open or create the database file (owner-only) and bring its schema up to date.

        Fails at once with :class:`StoreError` if the file cannot be written
        or stays locked by another process for ``busy_timeout`` seconds.
        """
        if path != ":memory:":
            _create_private(Path(path))
        try:
            db = await aiosqlite.connect(path, timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from None
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await _migrate(db)
            # prove now, not at the first message, that we can write
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("COMMIT")
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(f"cannot use the database {path}: {exc}") from None
        return cls(db, path)

    async def get_thread(self, thread_key: str) -> ThreadRecord | None:
        row = await self._one(
            "SELECT conversation_id, dify_user, app FROM threads WHERE thread_key = ?",
            (thread_key,),
        )
        if row is None:
            return None
        return ThreadRecord(thread_key, conversation_id=row[0], dify_user=row[1], app=row[2])

    async def save_thread(self, record: ThreadRecord) -> None:
        now = time.time()
        await self._statement(
            """
            INSERT INTO threads
                (thread_key, conversation_id, dify_user, app, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (thread_key) DO UPDATE SET
                conversation_id = excluded.conversation_id,
                dify_user = excluded.dify_user,
                app = excluded.app,
                updated_at = excluded.updated_at
            """,
            (record.thread_key, record.conversation_id, record.dify_user, record.app, now, now),
        )

    async def forget_thread(self, thread_key: str) -> None:
        await self._statement("DELETE FROM threads WHERE thread_key = ?", (thread_key,))

    async def save_messages(self, records: Sequence[MessageRecord]) -> None:
        if not records:
            return
        now = time.time()
        values = ",".join("(?, ?, ?, ?, ?, ?)" for _ in records)
        parameters: list[object] = []
        for r in records:
            parameters += [r.message_key, r.dify_message_id, r.dify_user, r.thread_key, r.app, now]
        await self._statement(
            "INSERT OR REPLACE INTO messages"
            " (message_key, dify_message_id, dify_user, thread_key, app, created_at)"
            f" VALUES {values}",
            parameters,
        )

    async def get_message(self, message_key: str) -> MessageRecord | None:
        row = await self._one(
            "SELECT dify_message_id, dify_user, thread_key, app FROM messages"
            " WHERE message_key = ?",
            (message_key,),
        )
        if row is None:
            return None
        return MessageRecord(message_key, row[0], row[1], row[2], row[3])

    async def claim_events(self, event_keys: Sequence[str], ttl: float = EVENT_TTL_SECONDS) -> bool:
        if not event_keys:
            return True
        event_keys = list(dict.fromkeys(event_keys))
        now = time.time()
        values = ",".join("(?, ?)" for _ in event_keys)
        marks = ",".join("?" * len(event_keys))
        # One statement, so one trip to the database thread (turns start by the
        # hundred) and atomic: all keys are recorded, or none if any is still known.
        sql = (
            f"INSERT INTO events (event_key, expires_at) SELECT * FROM (VALUES {values})"
            f" WHERE NOT EXISTS (SELECT 1 FROM events WHERE event_key IN ({marks})"
            " AND expires_at > ?)"
            " ON CONFLICT (event_key) DO UPDATE SET expires_at = excluded.expires_at"
            " RETURNING event_key"
        )
        parameters: list[object] = []
        for key in event_keys:
            parameters += [key, now + ttl]
        parameters += [*event_keys, now]
        claimed = await self._statement(sql, parameters, what="record an event")
        self._claims += 1
        if self._claims % _PURGE_EVERY == 0:
            await self._statement("DELETE FROM events WHERE expires_at <= ?", (now,))
        return len(list(claimed)) > 0

    @contextlib.asynccontextmanager
    async def thread_lock(self, thread_key: str) -> AsyncIterator[None]:
        # one process owns an SQLite file: the bridge's in-process lock is enough
        yield

    async def close(self) -> None:
        await self._db.close()

    # -- copying between stores (``dify-bridge migrate``) --

    async def dump_threads(self) -> AsyncIterator[ThreadRecord]:
        query = "SELECT thread_key, conversation_id, dify_user, app FROM threads ORDER BY 1"
        async with self._db.execute(query) as cursor:
            async for row in cursor:
                yield ThreadRecord(*row)

    async def dump_messages(self) -> AsyncIterator[MessageRecord]:
        query = (
            "SELECT message_key, dify_message_id, dify_user, thread_key, app FROM messages"
            " ORDER BY 1"
        )
        async with self._db.execute(query) as cursor:
            async for row in cursor:
                yield MessageRecord(*row)

    async def load(
        self, threads: Sequence[ThreadRecord], messages: Sequence[MessageRecord]
    ) -> tuple[int, int]:
        """Add the records this store does not have yet; returns how many of each were new."""
        now = time.time()
        async with self._write_lock:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                before = self._db.total_changes
                await self._db.executemany(
                    "INSERT OR IGNORE INTO threads"
                    " (thread_key, conversation_id, dify_user, app, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (t.thread_key, t.conversation_id, t.dify_user, t.app, now, now)
                        for t in threads
                    ],
                )
                middle = self._db.total_changes
                await self._db.executemany(
                    "INSERT OR IGNORE INTO messages"
                    " (message_key, dify_message_id, dify_user, thread_key, app, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (m.message_key, m.dify_message_id, m.dify_user, m.thread_key, m.app, now)
                        for m in messages
                    ],
                )
                after = self._db.total_changes
                await self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback()
                raise StoreError(f"cannot write to the database: {exc}") from None
        return middle - before, after - middle

    async def _one(self, sql: str, parameters: tuple[object, ...]) -> sqlite3.Row | None:
        """The first row of a query, in one trip to the database thread."""
        rows = await self._db.execute_fetchall(sql, parameters)
        return next(iter(rows), None)

    async def _statement(
        self, sql: str, parameters: Sequence[object], *, what: str = "write to the database"
    ) -> list[sqlite3.Row]:
        """Run one statement: atomic on its own, and one trip to the database thread.

        Statements do not wait for each other (the connection's thread runs
        them in order); they only wait while :meth:`load` holds a transaction
        open, so that none lands inside it.
        """
        if self._write_lock.locked():
            async with self._write_lock:
                pass
        try:
            return list(await self._db.execute_fetchall(sql, parameters))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what}: {exc}") from None

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            await self._db.execute("ROLLBACK")


def _create_private(path: Path) -> None:
    """Create the file readable by its owner only; SQLite gives its -wal/-shm the same mode."""
    if not path.parent.exists():
        raise StoreError(f"the database folder {path.parent} does not exist (DATABASE_URL)")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError:
        raise StoreError(f"no permission to open the database {path} (DATABASE_URL)") from None
    except OSError as exc:
        raise StoreError(f"cannot open the database {path}: {exc.strerror}") from None
    os.close(fd)


async def _migrate(db: aiosqlite.Connection) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    async with db.execute("SELECT version FROM schema_version") as cursor:
        row = await cursor.fetchone()
    version = row[0] if row else 0
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    await db.execute(statement)
            await db.execute("DELETE FROM schema_version")
            await db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            await db.execute("COMMIT")
        except sqlite3.Error:
            await db.execute("ROLLBACK")
            raise
