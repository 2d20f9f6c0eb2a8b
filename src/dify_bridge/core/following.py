"""What the store tells about a thread before its turn: followed, begun, and its app.

A thread's row exists from its first question (claimed with the message) or
from the moment an adapter fixes its route ahead of any question (a Slack
assistant thread opened from a channel). The row's ``app`` decides the Dify
app of the thread's first turn and of every later one, so a route fixed
ahead survives a restart; once Dify named the conversation it never changes.
"""

from __future__ import annotations

import logging

from dify_bridge.core.types import ThreadRecord
from dify_bridge.dify.apps import AppDirectory
from dify_bridge.errors import StoreError
from dify_bridge.keys import dify_user_for
from dify_bridge.store import Store

__all__ = ["followed", "has_conversation", "route_ahead"]

log = logging.getLogger(__name__)


async def followed(store: Store, thread_key: str) -> bool:
    """True if the store has the thread (a store failure: not followed, and logged)."""
    try:
        return await store.get_thread(thread_key) is not None
    except StoreError as exc:
        log.error("cannot tell whether %s is followed: %s", thread_key, exc)
        return False


async def has_conversation(store: Store, thread_key: str) -> bool:
    """True once Dify named the thread's conversation (a store failure: False, logged)."""
    try:
        record = await store.get_thread(thread_key)
    except StoreError as exc:
        log.error("cannot tell whether %s has a conversation: %s", thread_key, exc)
        return False
    return record is not None and bool(record.conversation_id)


async def route_ahead(
    store: Store, apps: AppDirectory, thread_key: str, route_scopes: tuple[str, ...]
) -> None:
    """Record that the thread, with no conversation yet, talks to the app ``route_scopes``
    route to. Run inside the thread's turn lock, so no turn names a conversation meanwhile."""
    app = apps.for_scopes(route_scopes).name
    try:
        record = await store.get_thread(thread_key)
        if record is not None and (record.conversation_id or record.app == app):
            return
        dify_user = record.dify_user if record is not None else dify_user_for(thread_key)
        await store.save_thread(ThreadRecord(thread_key, "", dify_user, app))
    except StoreError as exc:
        log.error("route of %s not kept: %s", thread_key, exc)
        return
    log.info("%s will talk to app %r", thread_key, app)
