"""What the bridge asks of a store, whichever backend keeps it.

:class:`Store` is the interface; each method is one atomic write or read, so a
crash between two calls loses nothing that a call already confirmed. Nothing
here imports a backend: the backends import this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from dify_bridge.store.installations import InstallationRecords
from dify_bridge.store.records import FormRecord, MessageRecord, ThreadRecord
from dify_bridge.store.replicas import ReplicaBoard
from dify_bridge.store.shards import ShardClaims

__all__ = ["EVENT_TTL_SECONDS", "Store", "redact_url"]

EVENT_TTL_SECONDS = 24 * 3600
"""How long a processed event id is remembered (Slack retries within minutes)."""


class Store(Protocol):
    """Threads, answers and processed events, shared by every process that opens it."""

    async def get_thread(self, thread_key: str) -> ThreadRecord | None:
        """The thread's record, if it is followed.

        ``conversation_id`` is "" while the thread is followed but Dify has not
        named its conversation yet (see :meth:`claim_events`).
        """
        ...

    async def save_thread(self, record: ThreadRecord) -> None:
        """Map (or re-map) a thread to a conversation."""
        ...

    async def forget_thread(self, thread_key: str) -> None:
        """Drop a thread's mapping: its next message starts a new conversation."""
        ...

    async def latest_thread(self, channel: str) -> ThreadRecord | None:
        """The most recently updated thread of ``channel`` (a thread key without
        its last part, e.g. ``slack:T1:C1``), if it has any."""
        ...

    async def save_messages(self, records: Sequence[MessageRecord]) -> None:
        """Remember which Dify message each posted platform message shows."""
        ...

    async def get_message(self, message_key: str) -> MessageRecord | None:
        """The Dify message a posted platform message shows, if it is an answer."""
        ...

    async def claim_events(
        self,
        event_keys: Sequence[str],
        ttl: float = EVENT_TTL_SECONDS,
        *,
        thread: ThreadRecord | None = None,
    ) -> bool:
        """Record the keys of one incoming event; False if any was seen before.

        Claiming is atomic: of two deliveries of one event, exactly one wins.
        When the claim wins and ``thread`` is given, the thread becomes followed
        in the same transaction: its row is added if absent (as given, usually
        with ``conversation_id`` ""), or only its ``updated_at`` is touched if
        present, so a claim never overwrites a conversation, user or app.
        """
        ...

    async def save_form(self, record: FormRecord) -> None:
        """Remember (or update) a form shown in a thread."""
        ...

    async def get_form(self, form_key: str) -> FormRecord | None:
        """The form, whatever its state."""
        ...

    async def pending_form(self, thread_key: str, now: float) -> FormRecord | None:
        """The thread's latest form that is not closed and not expired at ``now``."""
        ...

    async def claim_form(self, form_key: str) -> bool:
        """Waiting → submitting, atomically: of two clicks (any replicas) one wins."""
        ...

    async def set_form_state(self, form_key: str, state: str) -> None:
        """Release a claim (``waiting``) or close the form (``closed``)."""
        ...

    def thread_lock(self, thread_key: str) -> AbstractAsyncContextManager[None]:
        """Held for a whole turn. A store shared by several processes makes it span
        them; an embedded store needs only the bridge's in-process lock (no-op)."""
        ...

    def shard_claims(self, name: str) -> ShardClaims:
        """Claims on the shards of ``name``'s gateway (e.g. ``discord``), shared by every
        process that opens the store; an embedded store grants them all to its one process."""
        ...

    def slack_installations(self) -> InstallationRecords:
        """Slack installations and OAuth states (many workspaces), shared by every process
        that opens the store."""
        ...

    def replica_board(self) -> ReplicaBoard:
        """Heartbeats of the replicas and their answers in flight; an embedded store's
        board keeps nothing (one process is always alone)."""
        ...

    async def close(self) -> None:
        """Release the connections; the store is not used afterwards."""
        ...


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
