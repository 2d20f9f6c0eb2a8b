"""The facade adapters talk to: messages, reactions, clicks, stop, commands, follow state.

Rules that hold for every platform live behind it once: exactly-once handling
of redelivered events, one turn at a time per thread (threads in parallel),
one stable Dify user per thread, 404 recovery, feedback ownership, which
threads the bot follows, and turning every failure into a short notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping

from dify_bridge.core import following, notices
from dify_bridge.core.commands import CommandRequest, Commands, opening_of
from dify_bridge.core.formflow import FormDesk
from dify_bridge.core.forms import FormBoard, FormView
from dify_bridge.core.inflight import AnswerLedger
from dify_bridge.core.limits import QuestionLimits
from dify_bridge.core.memory import BoundedSet
from dify_bridge.core.options import BridgeOptions
from dify_bridge.core.output import post_notice
from dify_bridge.core.ports import ReplySink
from dify_bridge.core.presence import Presence, place_of
from dify_bridge.core.threadlocks import ThreadLocks
from dify_bridge.core.turn import Turn
from dify_bridge.core.types import Incoming, Opening, Reaction, ThreadRecord
from dify_bridge.dify.apps import AppDirectory
from dify_bridge.errors import DifyError, MessageNotFound, StoreError
from dify_bridge.keys import EventKey, dify_user_for
from dify_bridge.ops.metrics import Metrics
from dify_bridge.store import ShardClaims, Store
from dify_bridge.store.installations import InstallationRecords

__all__ = ["Bridge"]

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
        self._commands = Commands(store, apps)
        self._limits = QuestionLimits(
            per_user=self.options.questions_per_user_per_minute,
            per_channel=self.options.questions_per_channel_per_minute,
        )
        self._forms = FormDesk(store, apps)
        self.presence = Presence(store.replica_board(), metrics=self.metrics)
        self.presence.count_demand_with(lambda: Counter(map(place_of, self._live)))
        self.in_flight = AnswerLedger(store.replica_board(), self.presence, self.metrics)
        self._thread_turn = ThreadLocks(store).turn
        self._turns: set[asyncio.Task[object]] = set()
        self._closing = False
        self._live: dict[str, Turn] = {}
        self._taken = BoundedSet[str]()
        """Threads this process has taken a message for: followed before the store says so."""

    async def follows(self, thread_key: str) -> bool:
        """True if a message in this thread (without a mention) is for the bot."""
        return thread_key in self._taken or await following.followed(self.store, thread_key)

    async def has_begun(self, thread_key: str) -> bool:
        """True once the thread had a question: one this process took, or a conversation."""
        return thread_key in self._taken or await following.has_conversation(self.store, thread_key)

    async def route_thread(self, thread_key: str, route_scopes: tuple[str, ...]) -> None:
        """Before its first question, the thread's app is kept (a conversation keeps its own)."""
        async with self._thread_turn(thread_key):
            await following.route_ahead(self.store, self.apps, thread_key, route_scopes)

    async def handle_message(self, incoming: Incoming, sink: ReplySink) -> None:
        """Answer one message in its thread. Never raises for Dify or platform trouble."""

        async def ask(turn: Turn) -> bool:
            if not await self._claim(incoming, sink) or await self._forms.waits(
                incoming.thread_key, sink
            ):
                return False
            if not await self._within_limits(incoming, sink):
                return False
            await turn.run()
            return True

        await self._turn(incoming, sink, ask)

    async def _turn(
        self, incoming: Incoming, sink: ReplySink, work: Callable[[Turn], Awaitable[bool]]
    ) -> None:
        """One turn in its thread, after the thread's earlier ones; ``work`` False: none ran."""
        self._taken.add(incoming.thread_key)  # before any await: a quick follow-up is followed
        if self._closing:
            log.info("not taking a new turn in %s: shutting down", incoming.thread_key)
            await post_notice(sink, notices.INTERRUPTED)
            return
        task = asyncio.current_task()
        if task is not None:
            self._turns.add(task)
        started = False
        turn: Turn | None = None
        try:
            async with self._thread_turn(incoming.thread_key):
                if self._closing:
                    await post_notice(sink, notices.INTERRUPTED)
                    return
                turn = Turn(
                    incoming,
                    sink,
                    store=self.store,
                    apps=self.apps,
                    options=self.options,
                    metrics=self.metrics,
                    forms=self._forms,
                    ledger=self.in_flight,
                )
                self._live[incoming.thread_key] = turn
                started = True
                try:
                    ran = await work(turn)
                finally:
                    self._live.pop(incoming.thread_key, None)
            # outside the thread's turn: the next question need not wait for audio
            if ran:
                await turn.speak()
        except asyncio.CancelledError:
            if not started:  # cancelled while waiting its turn: say so, never silently
                await post_notice(sink, notices.INTERRUPTED)
            raise
        except Exception:  # the task boundary of one message: logged once, the user told
            log.exception("message in %s not handled", incoming.thread_key)
            if turn is None:
                await post_notice(sink, notices.UNEXPECTED)
            else:  # the answer so far ends with the notice, without its Stop button
                await turn.end_after_a_bug()
        finally:
            if task is not None:
                self._turns.discard(task)

    def show_forms_with(self, platform: str, board: FormBoard) -> None:
        """Forms in ``platform``'s threads are shown by ``board`` (buttons, a modal)."""
        self._forms.register(platform, board)

    async def pending_form(self, thread_key: str) -> FormView | None:
        """The form the thread's workflow waits on, if any."""
        try:
            return await self._forms.pending(thread_key)
        except StoreError as exc:
            log.error("cannot look up the form of %s: %s", thread_key, exc)
            return None

    async def form(self, form_key: str) -> FormView | None:
        """A form by its key (e.g. to open its fields in a modal after a restart)."""
        try:
            return await self._forms.find(form_key)
        except StoreError as exc:
            log.error("cannot look up form %s: %s", form_key, exc)
            return None

    async def submit_form(
        self,
        form_key: str,
        action_id: str,
        inputs: Mapping[str, str],
        clicker_name: str,
        sink: ReplySink,
    ) -> str:
        """Answer a form (once, on any replica) as the thread's Dify user, then stream the
        workflow's answer into the thread through ``sink``. Returns "" when Dify took the
        answer, else the one line for whoever clicked (already in the thread for Dify's
        refusals). Never raises for Dify or platform trouble."""
        submitted = await self._forms.submit(form_key, action_id, inputs, clicker_name, sink)
        record = submitted.record
        if record is None:
            return submitted.notice
        platform = record.thread_key.split(":", 1)[0]
        going_on = Incoming(platform, record.thread_key, "", user_id="")

        async def follow(turn: Turn) -> bool:
            await turn.resume(record)
            return True

        await self._turn(going_on, sink, follow)
        return ""

    async def _claim(self, incoming: Incoming, sink: ReplySink) -> bool:
        """True the first time this message arrives (the thread becomes followed with it)."""
        keys = incoming.event_keys
        if not keys:
            return True
        app = self.apps.for_scopes(incoming.route_scopes).name
        follow = ThreadRecord(incoming.thread_key, "", dify_user_for(incoming.thread_key), app)
        try:
            first_time = await self.store.claim_events(keys, thread=follow)
        except StoreError as exc:
            log.error("message in %s not answered: %s", incoming.thread_key, exc)
            await post_notice(sink, notices.UNEXPECTED)
            return False
        if not first_time:
            log.info("already handled %s; skipping the redelivery", keys[0])
        return first_time

    async def opening(self, route_scopes: tuple[str, ...]) -> Opening:
        """The greeting of the app a new thread from ``route_scopes`` would talk to
        (from the app's parameters; no chat request). Empty when Dify cannot say."""
        return opening_of(await self.apps.for_scopes(route_scopes).parameters())

    async def _within_limits(self, incoming: Incoming, sink: ReplySink) -> bool:
        """True if the question may go to Dify; else one polite line, counted in /metrics."""
        refusal = self._limits.admit(incoming)
        if refusal is None:
            return True
        log.info("question in %s refused: over the %s limit", incoming.thread_key, refusal.limit)
        self.metrics.questions_limited.labels(incoming.platform, refusal.limit).inc()
        notice = notices.TOO_MANY_FROM_YOU if refusal.limit == "user" else notices.TOO_MANY_HERE
        await post_notice(sink, notice)
        return False

    def shard_claims(self, platform: str) -> ShardClaims:
        """Claims on ``platform``'s gateway shards, shared with every replica of this store."""
        return self.store.shard_claims(platform)

    def slack_installations(self) -> InstallationRecords:
        """Slack installations and OAuth states, shared with every replica of this store."""
        return self.store.slack_installations()

    async def is_answer(self, message_key: str) -> bool:
        """True if ``message_key`` shows a complete answer of Dify's (one that can be rated)."""
        try:
            return await self.store.get_message(message_key) is not None
        except StoreError as exc:
            log.error("cannot look up %s: %s", message_key, exc)
            return False

    async def handle_reaction(self, reaction: Reaction) -> bool:
        """Send a like, dislike or revoke for the answer the reacted message belongs to.

        True once Dify took it; False for a message that is no answer, or a refusal.
        """
        try:
            record = await self.store.get_message(reaction.message_key)
        except StoreError as exc:
            log.error("feedback lost: %s", exc)
            return False
        if record is None:
            log.debug("reaction on %s, which is not an answer; ignored", reaction.message_key)
            return False
        app = self.apps.get(record.app)
        rating = reaction.rating.value if reaction.rating else "revoke"
        message_id = record.dify_message_id
        try:
            await app.client.send_feedback(message_id, reaction.rating, user=record.dify_user)
        except MessageNotFound:
            log.warning("Dify no longer knows message %s; %s not sent", message_id, rating)
            return False
        except DifyError as exc:
            log.error("could not send %s for message %s: %s", rating, message_id, exc)
            return False
        log.info("feedback %s sent for message %s", rating, message_id)
        return True

    async def delete_conversation(self, thread_key: str) -> str:
        """Delete the thread's conversation on Dify's side (the console's ``/forget``).

        The mapping stays, so the next message shows the lost-conversation recovery.
        Returns the conversation id, or "" when the thread has none yet.
        Raises :class:`DifyError` when Dify refuses.
        """
        record = await self.store.get_thread(thread_key)
        if record is None or not record.conversation_id:
            return ""
        app = self.apps.get(record.app)
        await app.client.delete_conversation(record.conversation_id, user=record.dify_user)
        return record.conversation_id

    async def claim_click(self, message_key: str, value: str, user_id: str) -> bool:
        """True the first time ``user_id`` clicks ``value`` on ``message_key`` (any replica)."""
        try:
            return await self.store.claim_events([str(EventKey.click(message_key, user_id, value))])
        except StoreError as exc:
            log.error("click on %s not handled: %s", message_key, exc)
            return False

    async def stop_answer(self, *, thread_key: str = "", message_key: str = "") -> bool:
        """Stop the answer streaming in a thread (found by thread or by one of its messages)."""
        turn = self._live.get(thread_key) if thread_key else None
        if turn is None and message_key:
            turn = next((t for t in self._live.values() if message_key in t.message_keys), None)
        if turn is None:
            return False
        log.info("stop requested in %s", turn.thread_key)
        return await turn.stop.request()

    async def command(self, request: CommandRequest) -> str:
        """The private reply to ``new``, ``status`` or ``help`` (Markdown)."""
        try:
            return await self._commands.reply(request)
        except StoreError as exc:
            log.error("command %r not handled: %s", request.name, exc)
            return notices.UNEXPECTED

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
