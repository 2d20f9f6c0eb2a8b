"""The one schema of both stores: tables, columns and indexes written once.

Every column and index carries the version that added it, and
:data:`MIGRATIONS` lists the versions in order; a backend renders version
*n* with :func:`migration_ddl` (``CREATE TABLE`` for a new table, ``ALTER
TABLE ... ADD COLUMN`` for a new column, ``CREATE INDEX``) and then runs the
version's :class:`Backfill` steps. A fresh database runs every version, an
old one the versions it lacks: one path for both.

Migrations only expand (nothing is dropped, renamed or retyped; a new column
has a default), so a replica of the previous release keeps working beside a
newer one on the same database. The format cannot express anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from dify_bridge.keys import ThreadKey

__all__ = [
    "COLUMN_TYPES",
    "INDEXES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "Backfill",
    "Column",
    "Dialect",
    "Index",
    "Migration",
    "Table",
    "channel_of",
    "migration_ddl",
]

Dialect = Literal["sqlite", "postgres"]
Kind = Literal["text", "time"]

COLUMN_TYPES: Mapping[Dialect, Mapping[Kind, str]] = {
    "sqlite": {"text": "TEXT", "time": "REAL"},
    "postgres": {"text": "TEXT", "time": "DOUBLE PRECISION"},
}
"""How each backend spells a column kind. ``time``: seconds since the epoch."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    default: str | None = None
    """An SQL literal; required for a column added after its table."""
    primary_key: bool = False
    since: int = 1

    def render(self, dialect: Dialect) -> str:
        sql = f"{self.name} {COLUMN_TYPES[dialect][self.kind]}"
        sql += " PRIMARY KEY" if self.primary_key else " NOT NULL"
        return sql if self.default is None else f"{sql} DEFAULT {self.default}"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    since: int = 1


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[str, ...]
    since: int = 1


@dataclass(frozen=True)
class Backfill:
    """Fill ``column`` of the rows where it is still ``''``, computed from ``source``."""

    table: str
    key: str
    """The primary key, to write each row back."""
    source: str
    column: str
    compute: Callable[[str], str]


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    backfills: tuple[Backfill, ...] = ()


def channel_of(thread_key: str) -> str:
    """The channel of a thread: its key without the last part (``slack:T1:C1``)."""
    try:
        return ThreadKey.parse(thread_key).channel
    except ValueError:  # not a key the bridge writes; still group it somewhere
        return thread_key.rpartition(":")[0]


TABLES: tuple[Table, ...] = (
    Table(
        "threads",
        (
            Column("thread_key", "text", primary_key=True),
            # "": followed, but Dify has not named the conversation yet
            Column("conversation_id", "text"),
            Column("dify_user", "text"),
            Column("app", "text", default="'default'"),
            Column("created_at", "time"),
            Column("updated_at", "time"),
            Column("channel", "text", default="''", since=2),
        ),
    ),
    Table(
        "messages",
        (
            Column("message_key", "text", primary_key=True),
            Column("dify_message_id", "text"),
            Column("dify_user", "text"),
            Column("thread_key", "text"),
            Column("app", "text", default="'default'"),
            Column("created_at", "time"),
        ),
    ),
    Table(
        "events",
        (
            Column("event_key", "text", primary_key=True),
            Column("expires_at", "time"),
        ),
    ),
    Table(
        "forms",
        (
            Column("form_key", "text", primary_key=True, since=3),
            Column("thread_key", "text", since=3),
            Column("form_token", "text", since=3),
            Column("workflow_run_id", "text", since=3),
            Column("dify_user", "text", since=3),
            Column("app", "text", default="'default'", since=3),
            Column("message_key", "text", default="''", since=3),
            Column("expires_at", "time", default="0", since=3),
            Column("body", "text", default="'{}'", since=3),
            Column("state", "text", default="'waiting'", since=3),
            Column("created_at", "time", since=3),
        ),
        since=3,
    ),
    # Slack OAuth: one row per workspace (user_id '') and per installing user
    Table(
        "slack_installations",
        (
            Column("installation_key", "text", primary_key=True, since=4),
            Column("team_key", "text", since=4),
            Column("body", "text", since=4),
            # the tokens, as JSON or (with TOKEN_ENCRYPTION_KEY) a Fernet token
            Column("tokens", "text", since=4),
            Column("updated_at", "time", since=4),
        ),
        since=4,
    ),
    Table(
        "slack_bots",
        (
            Column("team_key", "text", primary_key=True, since=4),
            Column("body", "text", since=4),
            Column("tokens", "text", since=4),
            Column("updated_at", "time", since=4),
        ),
        since=4,
    ),
    Table(
        "slack_oauth_states",
        (
            Column("state", "text", primary_key=True, since=4),
            Column("expires_at", "time", since=4),
        ),
        since=4,
    ),
    # each live replica's heartbeat: what it asks of each place's budgets, what it paused
    Table(
        "replicas",
        (
            Column("replica_id", "text", primary_key=True, since=5),
            Column("last_seen", "time", since=5),
            Column("demand", "text", default="'{}'", since=5),
            Column("paused", "text", default="'{}'", since=5),
        ),
        since=5,
    ),
    # an answer being streamed, until it ends; a survivor marks a dead replica's ones
    Table(
        "answers_in_flight",
        (
            Column("answer_key", "text", primary_key=True, since=5),
            Column("platform", "text", since=5),
            Column("thread_key", "text", since=5),
            Column("replica_id", "text", since=5),
            Column("question_key", "text", default="''", since=5),
            Column("message_keys", "text", default="''", since=5),
            Column("task_id", "text", default="''", since=5),
            Column("workflow_run_id", "text", default="''", since=5),
            Column("started_at", "time", since=5),
        ),
        since=5,
    ),
)

INDEXES: tuple[Index, ...] = (
    Index("events_expiry", "events", ("expires_at",)),
    Index("threads_channel", "threads", ("channel", "updated_at"), since=2),
    Index("forms_thread", "forms", ("thread_key", "created_at"), since=3),
    Index("slack_installations_team", "slack_installations", ("team_key",), since=4),
    Index("slack_oauth_states_expiry", "slack_oauth_states", ("expires_at",), since=4),
    Index("answers_in_flight_replica", "answers_in_flight", ("replica_id",), since=5),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "threads, answers, processed events"),
    Migration(
        2,
        "a thread's channel, for the latest thread of a channel",
        (Backfill("threads", "thread_key", "thread_key", "channel", channel_of),),
    ),
    Migration(3, "Human Input forms waiting in threads, claimed once when answered"),
    Migration(4, "Slack installations of many workspaces, and OAuth states used once"),
    Migration(5, "replicas' heartbeats (budget shares) and answers in flight (taken over)"),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def migration_ddl(version: int, dialect: Dialect) -> list[str]:
    """The statements that bring a database at ``version - 1`` to ``version``."""
    statements: list[str] = []
    for table in TABLES:
        if table.since == version:
            columns = ",\n    ".join(c.render(dialect) for c in table.columns if c.since == version)
            statements.append(f"CREATE TABLE {table.name} (\n    {columns}\n)")
        elif table.since < version:
            statements += [
                f"ALTER TABLE {table.name} ADD COLUMN {c.render(dialect)}"
                for c in table.columns
                if c.since == version
            ]
    statements += [
        f"CREATE INDEX {index.name} ON {index.table} ({', '.join(index.columns)})"
        for index in INDEXES
        if index.since == version
    ]
    return statements
