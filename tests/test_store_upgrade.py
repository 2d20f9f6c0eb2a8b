"""A database the previous release wrote (schema version 1) opens, upgrades and keeps its data.

The upgrade only adds: every column of version 1 stays as it was, so a replica
of the previous release keeps running beside a newer one.
"""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from dify_bridge.core.types import MessageRecord, ThreadRecord
from dify_bridge.store import open_store
from dify_bridge.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES

from .pg import PostgresCluster

# -- the previous release: its DDL verbatim (store/sqlite.py, store/postgres.py) --

V1_SQLITE = """
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
    """

V1_POSTGRES = """
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
    """

V1_VERSION = """
    CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version (version) VALUES (1);
    """

V1_ROWS = """
    INSERT INTO threads VALUES
        ('slack:T1:C1:1700.1', 'conv-1', 'slack:T1:C1:1700.1', 'sales', 1000.0, 1000.0),
        ('slack:T1:C1:1700.2', 'conv-2', 'slack:T1:C1:1700.2', 'default', 1000.0, 2000.0),
        ('slack:T1:D1:dm', 'conv-3', 'U-old-style-user', 'default', 1000.0, 1000.0),
        ('discord:111:222', 'conv-4', 'discord:111:222', 'support', 1000.0, 1000.0);
    INSERT INTO messages VALUES
        ('slack:T1:C1:1700.5', 'msg-1', 'slack:T1:C1:1700.1', 'slack:T1:C1:1700.1', 'sales',
         1000.0),
        ('discord:222:333', 'msg-2', 'discord:111:222', 'discord:111:222', 'support', 1000.0);
    INSERT INTO events VALUES ('Ev-seen', 99999999999.0);
    """

THREADS = [
    ThreadRecord("slack:T1:C1:1700.1", "conv-1", "slack:T1:C1:1700.1", "sales"),
    ThreadRecord("slack:T1:C1:1700.2", "conv-2", "slack:T1:C1:1700.2", "default"),
    ThreadRecord("slack:T1:D1:dm", "conv-3", "U-old-style-user", "default"),
    ThreadRecord("discord:111:222", "conv-4", "discord:111:222", "support"),
]
MESSAGES = [
    MessageRecord(
        "slack:T1:C1:1700.5", "msg-1", "slack:T1:C1:1700.1", "slack:T1:C1:1700.1", "sales"
    ),
    MessageRecord("discord:222:333", "msg-2", "discord:111:222", "discord:111:222", "support"),
]

# what the previous release still runs against the upgraded database
V1_SAVE_THREAD = (
    "INSERT INTO threads (thread_key, conversation_id, dify_user, app, created_at, updated_at)"
    " VALUES ('slack:T1:C9:1.0', 'conv-9', 'u9', 'default', 3000.0, 3000.0)"
    " ON CONFLICT (thread_key) DO UPDATE SET conversation_id = excluded.conversation_id"
)
V1_READ_THREAD = (
    "SELECT conversation_id, dify_user, app FROM threads WHERE thread_key = 'slack:T1:C9:1.0'"
)


async def run(url: str, script: str) -> list[tuple[object, ...]]:
    """Run ``script`` outside the store; the rows of its last statement (PostgreSQL: of a
    single statement)."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            if script.count(";") > 1:
                db.executescript(script)
                return []
            return [tuple(row) for row in db.execute(script)]
    conn = await asyncpg.connect(url)
    try:
        if script.count(";") > 1:
            await conn.execute(script)
            return []
        return [tuple(row) for row in await conn.fetch(script)]
    finally:
        await conn.close()


async def schema_of(url: str) -> tuple[set[tuple[object, ...]], set[object]]:
    """(table, column, type, not null, default) of every column, and the index names."""
    if url.startswith("sqlite:///"):
        columns = set()
        for table in ("threads", "messages", "events"):
            for _, name, kind, notnull, default, _ in await run(url, f"PRAGMA table_info({table})"):
                columns.add((table, name, kind, notnull, default))
        indexes = await run(url, "SELECT name FROM sqlite_master WHERE type = 'index'")
    else:
        columns = set(
            await run(
                url,
                "SELECT table_name, column_name, data_type, is_nullable, column_default"
                " FROM information_schema.columns WHERE table_schema = 'public'"
                " AND table_name <> 'schema_version'",
            )
        )
        indexes = await run(url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    return columns, {name for (name,) in indexes}


async def previous_release(url: str) -> None:
    ddl = V1_SQLITE if url.startswith("sqlite:///") else V1_POSTGRES
    await run(url, ddl + V1_VERSION + V1_ROWS)


async def test_a_version_1_database_upgrades_in_place_and_keeps_its_records(
    database_url: str,
) -> None:
    await previous_release(database_url)
    v1_columns, v1_indexes = await schema_of(database_url)
    store = await open_store(database_url)
    try:
        assert [await store.get_thread(t.thread_key) for t in THREADS] == THREADS
        assert [await store.get_message(m.message_key) for m in MESSAGES] == MESSAGES
        assert not await store.claim_events(["Ev-seen"]), "a claimed event stays claimed"
        # channels were back-filled for the old rows
        assert await store.latest_thread("slack:T1:C1") == THREADS[1]
        assert await store.latest_thread("discord:111") == THREADS[3]
        # the conversation of an old thread continues as the same Dify user
        assert await store.claim_events(
            ["Ev-new"],
            thread=ThreadRecord(THREADS[2].thread_key, "", THREADS[2].thread_key, "sales"),
        )
        assert await store.get_thread(THREADS[2].thread_key) == THREADS[2]
    finally:
        await store.close()
    assert (await run(database_url, "SELECT version FROM schema_version")) == [(SCHEMA_VERSION,)]
    columns, indexes = await schema_of(database_url)
    assert v1_columns <= columns, f"dropped or changed: {v1_columns - columns}"
    assert v1_indexes <= indexes


async def test_the_previous_release_keeps_working_on_an_upgraded_database(
    database_url: str,
) -> None:
    await previous_release(database_url)
    store = await open_store(database_url)
    await store.close()
    await run(database_url, V1_SAVE_THREAD)
    assert await run(database_url, V1_READ_THREAD) == [("conv-9", "u9", "default")]
    store = await open_store(database_url)  # and the newer release reads what it wrote
    try:
        assert await store.get_thread("slack:T1:C9:1.0") == ThreadRecord(
            "slack:T1:C9:1.0", "conv-9", "u9"
        )
    finally:
        await store.close()


async def test_an_upgraded_database_has_the_schema_of_a_new_one(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    if database_url.startswith("sqlite:///"):
        fresh = database_url.replace("bridge.db", "fresh.db")
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        name = database_url.split("/")[3].split("?")[0] + "_fresh"
        cluster.psql(f"CREATE DATABASE {name}")
        fresh = cluster.url(name)
    await previous_release(database_url)
    for url in (database_url, fresh):
        await (await open_store(url)).close()
    assert await schema_of(database_url) == await schema_of(fresh)


def test_the_schema_only_expands() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert versions[-1] == SCHEMA_VERSION
    for table in TABLES:
        for column in table.columns:
            assert column.since >= table.since
            if column.since > table.since:
                assert column.default is not None, f"{column.name} needs a default"
