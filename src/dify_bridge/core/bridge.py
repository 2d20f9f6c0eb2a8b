"""The platform-free engine: one Dify conversation per thread, streamed into a sink.

Rules that hold for every platform live here once: exactly-once handling of
redelivered events, one turn at a time per thread (threads in parallel),
one stable Dify user per thread, 404 recovery, feedback ownership, and
turning every failure into a short notice in the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from dify_bridge.core.turn import (
    INTERRUPTED_NOTICE,
    LOST_CONTEXT_NOTICE,
    UNEXPECTED_NOTICE,
    BridgeOptions,
    Turn,
)
from dify_bridge.core.types import Incoming, Reaction, ReplySink, ThreadRecord
from dify_bridge.dify.apps import AppDirectory
from dify_bridge.errors import DifyError, MessageNotFound, StoreError
from dify_bridge.ops.metrics import Metrics
from dify_bridge.store import Store

__all__ = ["LOST_CONTEXT_NOTICE", "Bridge", "BridgeOptions"]

log = logging.getLogger(__name__)


class Bridge:
    def __init__(
        self,
        store: Store,
        apps: AppDirectory,
        options: BridgeOptions | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.apps = apps
        self.options = options or BridgeOptions()
        self.metrics = metrics or Metrics()
        self._thread_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._turns: set[asyncio.Task[object]] = set()
        self._closing = False
        self._live: dict[str, Turn] = {}

    async def is_tracked(self, thread_key: str) -> bool:
        """True if the bot already holds a conversation for this thread."""
        return await self.store.get_thread(thread_key) is not None

    async def handle_message(self, incoming: Incoming, sink: ReplySink) -> None:
        """Answer one message in its thread. Never raises for Dify or platform trouble."""
        if self._closing:
            log.info("not taking a new turn in %s: shutting down", incoming.thread_key)
            await _post_notice(sink, INTERRUPTED_NOTICE)
            return
        task = asyncio.current_task()
        if task is not None:
            self._turns.add(task)
        started = False
        turn: Turn | None = None
        try:
            # the thread's queue is joined before anything is awaited: arrival order
            async with self._thread_turn(incoming.thread_key):
                if self._closing:
                    await _post_notice(sink, INTERRUPTED_NOTICE)
                    return
                keys = incoming.event_keys
                try:
                    # a thread is followed from its first answered message on
                    app = self.apps.for_scopes(incoming.route_scopes).name
                    thread = ThreadRecord(incoming.thread_key, "", incoming.thread_key, app)
                    first_time = not keys or await self.store.claim_events(keys, thread=thread)
                except StoreError as exc:
                    log.error("message in %s not answered: %s", incoming.thread_key, exc)
                    await _post_notice(sink, UNEXPECTED_NOTICE)
                    return
                if not first_time:
                    log.info("already handled %s; skipping the redelivery", keys[0])
                    return
                turn = Turn(
                    incoming,
                    sink,
                    store=self.store,
                    apps=self.apps,
                    options=self.options,
                    metrics=self.metrics,
                )
                self._live[incoming.thread_key] = turn
                started = True
                try:
                    await turn.run()
                finally:
                    self._live.pop(incoming.thread_key, None)
            if turn is not None:
                # outside the thread's turn: the next question need not wait for audio
                await turn.speak()
        except asyncio.CancelledError:
            if not started:  # cancelled while waiting its turn: say so, never silently
                await _post_notice(sink, INTERRUPTED_NOTICE)
            raise
        finally:
            if task is not None:
                self._turns.discard(task)

    async def handle_reaction(self, reaction: Reaction) -> None:
        """Send a like, dislike or revoke for the answer the reacted message belongs to."""
        try:
            record = await self.store.get_message(reaction.message_key)
        except StoreError as exc:
            log.error("feedback lost: %s", exc)
            return
        if record is None:
            log.debug("reaction on %s, which is not an answer; ignored", reaction.message_key)
            return
        app = self.apps.get(record.app)
        rating = reaction.rating.value if reaction.rating else "revoke"
        try:
            await app.client.send_feedback(
                record.dify_message_id, reaction.rating, user=record.dify_user
            )
        except MessageNotFound:
            log.warning(
                "Dify no longer knows message %s; %s not sent", record.dify_message_id, rating
            )
        except DifyError as exc:
            log.error("could not send %s for message %s: %s", rating, record.dify_message_id, exc)
        else:
            log.info("feedback %s sent for message %s", rating, record.dify_message_id)

    async def stop_answer(self, *, thread_key: str = "", message_key: str = "") -> bool:
        """Stop the answer streaming in a thread (found by thread or by one of its messages)."""
        turn = self._live.get(thread_key) if thread_key else None
        if turn is None and message_key:
            turn = next(
                (t for t in self._live.values() if message_key in t.writer.message_keys), None
            )
        if turn is None:
            return False
        log.info("stop requested in %s", turn.thread_key)
        return await turn.request_stop()

    async def shutdown(self, grace: float) -> None:
        """Take no new turns; give running ones ``grace`` seconds, then mark them interrupted."""
        self._closing = True
        running = {t for t in self._turns if not t.done()}
        if running:
            log.info("waiting up to %.0f s for %d answer(s) in progress", grace, len(running))
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)

    @contextlib.asynccontextmanager
    async def _thread_turn(self, thread_key: str) -> AsyncIterator[None]:
        """One turn at a time per thread, in arrival order; the lock goes when unused."""
        lock, users = self._thread_locks.get(thread_key, (asyncio.Lock(), 0))
        self._thread_locks[thread_key] = (lock, users + 1)
        try:
            async with lock, self.store.thread_lock(thread_key):
                yield
        finally:
            lock, users = self._thread_locks[thread_key]
            if users == 1:
                del self._thread_locks[thread_key]
            else:
                self._thread_locks[thread_key] = (lock, users - 1)


async def _post_notice(sink: ReplySink, text: str) -> None:
    try:
        await sink.post(sink.render(text))
    except Exception as exc:
        log.error("could not post a notice: %s", exc)
