"""The embedded SQLite store (aiosqlite, WAL mode, the schema of :mod:`.schema`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiosqlite

from dify_bridge.errors import StoreError
from dify_bridge.store.base import EVENT_TTL_SECONDS
from dify_bridge.store.installations import InstallationRecords
from dify_bridge.store.records import (
    FORM_CLOSED,
    FORM_SUBMITTING,
    FORM_WAITING,
    FormRecord,
    MessageRecord,
    ThreadRecord,
)
from dify_bridge.store.replicas import LocalReplicaBoard, ReplicaBoard
from dify_bridge.store.schema import channel_of
from dify_bridge.store.shards import LocalShardClaims, ShardClaims
from dify_bridge.store.sqlite_batches import claim_and_follow, migrate, run_in_db_thread

__all__ = ["SqliteStore"]

_PURGE_EVERY = 500
_THREAD_INSERT = (
    "INSERT INTO threads"
    " (thread_key, conversation_id, dify_user, app, channel, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thread_key)"
)
_SAVE_THREAD = (
    f"{_THREAD_INSERT} DO UPDATE SET conversation_id = excluded.conversation_id,"
    " dify_user = excluded.dify_user, app = excluded.app, channel = excluded.channel,"
    " updated_at = excluded.updated_at"
)
# a claim follows a thread: never overwrites its conversation, user or app
_FOLLOW_THREAD = (
    f"{_THREAD_INSERT} DO UPDATE SET channel = excluded.channel, updated_at = excluded.updated_at"
)
_THREAD_FIELDS = "thread_key, conversation_id, dify_user, app"
_MESSAGE_FIELDS = "message_key, dify_message_id, dify_user, thread_key, app"
_FORM_FIELDS = (
    "form_key, thread_key, form_token, workflow_run_id, dify_user, app, message_key,"
    " expires_at, body, state"
)


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
            # also proves now, not at the first message, that we can write
            await run_in_db_thread(db, migrate)
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(f"cannot use the database {path}: {exc}") from None
        return cls(db, path)

    async def get_thread(self, thread_key: str) -> ThreadRecord | None:
        row = await self._one(
            f"SELECT {_THREAD_FIELDS} FROM threads WHERE thread_key = ?", (thread_key,)
        )
        return None if row is None else ThreadRecord(*row)

    async def latest_thread(self, channel: str) -> ThreadRecord | None:
        row = await self._one(
            # a thread only followed (no conversation yet) has nothing to report
            f"SELECT {_THREAD_FIELDS} FROM threads WHERE channel = ?"
            " AND conversation_id <> '' ORDER BY updated_at DESC LIMIT 1",
            (channel,),
        )
        return None if row is None else ThreadRecord(*row)

    async def save_thread(self, record: ThreadRecord) -> None:
        await self._statement(_SAVE_THREAD, _thread_row(record, time.time()))

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
        sql = f"INSERT OR REPLACE INTO messages ({_MESSAGE_FIELDS}, created_at) VALUES {values}"
        await self._statement(sql, parameters)

    async def get_message(self, message_key: str) -> MessageRecord | None:
        sql = f"SELECT {_MESSAGE_FIELDS} FROM messages WHERE message_key = ?"
        row = await self._one(sql, (message_key,))
        return None if row is None else MessageRecord(*row)

    async def claim_events(
        self,
        event_keys: Sequence[str],
        ttl: float = EVENT_TTL_SECONDS,
        *,
        thread: ThreadRecord | None = None,
    ) -> bool:
        now = time.time()
        follow = None if thread is None else (_FOLLOW_THREAD, _thread_row(thread, now))
        if not event_keys:
            if follow:
                await self._statement(*follow, what="follow a thread")
            return True
        event_keys = list(dict.fromkeys(event_keys))
        values = ",".join("(?, ?)" for _ in event_keys)
        marks = ",".join("?" * len(event_keys))
        # atomic: all keys are recorded, or none if any is still known
        claim = (
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
        if follow is None:  # one statement, so one trip to the database thread
            won = bool(await self._statement(claim, parameters, what="record an event"))
        else:  # one transaction, still one trip: the thread is followed iff the claim won
            await self._wait_for_load()
            try:
                won = await run_in_db_thread(
                    self._db, lambda conn: claim_and_follow(conn, claim, parameters, follow)
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot record an event: {exc}") from None
        self._claims += 1
        if self._claims % _PURGE_EVERY == 0:
            await self._statement("DELETE FROM events WHERE expires_at <= ?", (now,))
        return won

    async def save_form(self, record: FormRecord) -> None:
        sql = (
            f"INSERT OR REPLACE INTO forms ({_FORM_FIELDS}, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        await self._statement(sql, (*_form_row(record), time.time()), what="save a form")

    async def get_form(self, form_key: str) -> FormRecord | None:
        row = await self._one(f"SELECT {_FORM_FIELDS} FROM forms WHERE form_key = ?", (form_key,))
        return None if row is None else _form(row)

    async def pending_form(self, thread_key: str, now: float) -> FormRecord | None:
        row = await self._one(
            f"SELECT {_FORM_FIELDS} FROM forms WHERE thread_key = ? AND state <> ?"
            " AND (expires_at = 0 OR expires_at > ?) ORDER BY created_at DESC LIMIT 1",
            (thread_key, FORM_CLOSED, now),
        )
        return None if row is None else _form(row)

    async def claim_form(self, form_key: str) -> bool:
        rows = await self._statement(
            "UPDATE forms SET state = ? WHERE form_key = ? AND state = ? RETURNING 1",
            (FORM_SUBMITTING, form_key, FORM_WAITING),
            what="claim a form",
        )
        return bool(rows)

    async def set_form_state(self, form_key: str, state: str) -> None:
        await self._statement(
            "UPDATE forms SET state = ? WHERE form_key = ?", (state, form_key), what="close a form"
        )

    @contextlib.asynccontextmanager
    async def thread_lock(self, thread_key: str) -> AsyncIterator[None]:
        # one process owns an SQLite file: the bridge's in-process lock is enough
        yield

    def shard_claims(self, name: str) -> ShardClaims:
        return LocalShardClaims()  # one process owns an SQLite file, and every shard

    def replica_board(self) -> ReplicaBoard:
        return LocalReplicaBoard()  # and is always alone

    def slack_installations(self) -> InstallationRecords:
        return InstallationRecords(lambda sql, args, what: self._statement(sql, args, what=what))

    async def close(self) -> None:
        await self._db.close()

    # -- copying between stores (``dify-bridge migrate``) --

    async def dump_threads(self) -> AsyncIterator[ThreadRecord]:
        async for row in self._dump(f"SELECT {_THREAD_FIELDS} FROM threads ORDER BY 1"):
            yield ThreadRecord(*row)

    async def dump_messages(self) -> AsyncIterator[MessageRecord]:
        async for row in self._dump(f"SELECT {_MESSAGE_FIELDS} FROM messages ORDER BY 1"):
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
                    f"{_THREAD_INSERT} DO NOTHING", [_thread_row(t, now) for t in threads]
                )
                middle = self._db.total_changes
                await self._db.executemany(
                    f"INSERT OR IGNORE INTO messages ({_MESSAGE_FIELDS}, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (m.message_key, m.dify_message_id, m.dify_user, m.thread_key, m.app, now)
                        for m in messages
                    ],
                )
                after = self._db.total_changes
                await self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    await self._db.execute("ROLLBACK")
                raise StoreError(f"cannot write to the database: {exc}") from None
        return middle - before, after - middle

    async def _dump(self, query: str) -> AsyncIterator[tuple[str, ...]]:
        async with self._db.execute(query) as cursor:
            async for row in cursor:
                yield tuple(row)

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
        await self._wait_for_load()
        try:
            return list(await self._db.execute_fetchall(sql, parameters))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {what}: {exc}") from None

    async def _wait_for_load(self) -> None:
        if self._write_lock.locked():
            async with self._write_lock:
                pass


def _thread_row(r: ThreadRecord, now: float) -> tuple[object, ...]:
    return (r.thread_key, r.conversation_id, r.dify_user, r.app, channel_of(r.thread_key), now, now)


def _form_row(record: FormRecord) -> tuple[object, ...]:
    return (
        record.form_key,
        record.thread_key,
        record.form_token,
        record.workflow_run_id,
        record.dify_user,
        record.app,
        record.message_key,
        record.expires_at,
        record.body,
        record.state,
    )


def _form(row: sqlite3.Row | tuple[object, ...]) -> FormRecord:
    values = tuple(row)
    texts = [str(v) for v in values]
    key, thread, token, run, user, app, message = texts[:7]
    expires = float(str(values[7] or 0))
    return FormRecord(key, thread, token, run, user, app, message, expires, texts[8], texts[9])


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
