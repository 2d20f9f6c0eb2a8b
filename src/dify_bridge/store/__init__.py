"""Where threads, answers and processed events are remembered.

:class:`Store` is the interface the bridge uses; :func:`open_store` picks the
backend from ``DATABASE_URL``. Each method is one atomic write or read, so a
crash between two calls loses nothing that a call already confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from dify_bridge.core.types import MessageRecord, ThreadRecord
from dify_bridge.errors import ConfigError

EVENT_TTL_SECONDS = 24 * 3600
"""How long a processed event id is remembered (Slack retries within minutes)."""


class Store(Protocol):
    async def get_thread(self, thread_key: str) -> ThreadRecord | None:
        """The conversation a thread is mapped to, if any."""
        ...

    async def save_thread(self, record: ThreadRecord) -> None:
        """Map (or re-map) a thread to a conversation."""
        ...

    async def forget_thread(self, thread_key: str) -> None:
        """Drop a thread's mapping: its next message starts a new conversation."""
        ...

    async def save_messages(self, records: Sequence[MessageRecord]) -> None:
        """Remember which Dify message each posted platform message shows."""
        ...

    async def get_message(self, message_key: str) -> MessageRecord | None: ...

    async def claim_events(self, event_keys: Sequence[str], ttl: float = EVENT_TTL_SECONDS) -> bool:
        """Record the keys of one incoming event; False if any was seen before.

        Claiming is atomic: of two deliveries of one event, exactly one wins.
        """
        ...

    def thread_lock(self, thread_key: str) -> AbstractAsyncContextManager[None]:
        """Held for a whole turn. A store shared by several processes makes it span
        them; an embedded store needs only the bridge's in-process lock (no-op)."""
        ...

    async def close(self) -> None: ...


async def open_store(database_url: str) -> Store:
    """Open (and migrate) the store that ``database_url`` names."""
    if database_url.startswith("sqlite:///"):
        from dify_bridge.store.sqlite import SqliteStore

        return await SqliteStore.open(database_url.removeprefix("sqlite:///"))
    if database_url.startswith(("postgresql://", "postgres://")):
        try:
            from dify_bridge.store.postgres import PostgresStore
        except ImportError:
            raise ConfigError(
                "DATABASE_URL", "PostgreSQL needs asyncpg: pip install 'dify-bridge[postgres]'"
            ) from None
        return await PostgresStore.open(database_url)
    raise ConfigError("DATABASE_URL", f"unsupported database {database_url.split(':', 1)[0]!r}")


def redact_url(url: str) -> str:
    """``url`` without its password, fit for logs and error messages."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.netloc.rpartition("@")[2]
            parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
        if "password" in parts.query.lower():
            pairs = [
                (name, "***" if name.lower() == "password" else value)
                for name, value in parse_qsl(parts.query, keep_blank_values=True)
            ]
            parts = parts._replace(query=urlencode(pairs, safe="*/"))
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.scheme}://{parts.netloc}{parts.path}{query}"
    except ValueError:
        return url.split("://", 1)[0] + "://***"
