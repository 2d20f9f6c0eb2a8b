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
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from dify_bridge.apps import AppDirectory, DifyApp
from dify_bridge.dify_events import (
    AgentThought,
    AnswerDelta,
    AnswerReplaced,
    FileProduced,
    MessageEnded,
)
from dify_bridge.errors import ConversationNotFound, DifyError, MessageNotFound, StoreError
from dify_bridge.models import (
    Citation,
    Incoming,
    MessageRecord,
    Reaction,
    ReplySink,
    ThreadRecord,
)
from dify_bridge.store import Store
from dify_bridge.writer import ReplyWriter

log = logging.getLogger(__name__)

LOST_CONTEXT_NOTICE = (
    "_(The earlier conversation was no longer available, so this starts a new one.)_"
)
EMPTY_MESSAGE_NOTICE = "Hi! Ask me anything in this thread and I will answer here."
EMPTY_ANSWER_NOTICE = "_(The assistant returned an empty answer.)_"
INTERRUPTED_NOTICE = "_(Interrupted: the bridge is restarting. Please ask again in a moment.)_"
UNEXPECTED_NOTICE = "Something went wrong on our side while answering. Please try again."


@dataclass(frozen=True)
class BridgeOptions:
    speaker_names: bool = True
    """Prefix the query with the speaker's name in shared channels."""
    max_query_chars: int = 20_000
    show_citations: bool = True


@dataclass
class TurnResult:
    text: str = ""
    conversation_id: str = ""
    message_id: str = ""
    task_id: str = ""
    citations: list[Citation] = field(default_factory=list)
    files: list[FileProduced] = field(default_factory=list)
    first_chunk_at: float | None = None


class Bridge:
    def __init__(
        self, store: Store, apps: AppDirectory, options: BridgeOptions | None = None
    ) -> None:
        self.store = store
        self.apps = apps
        self.options = options or BridgeOptions()
        self._thread_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._turns: set[asyncio.Task[object]] = set()
        self._closing = False

    async def is_tracked(self, thread_key: str) -> bool:
        """True if the bot already holds a conversation for this thread."""
        return await self.store.get_thread(thread_key) is not None

    async def handle_message(self, incoming: Incoming, sink: ReplySink) -> None:
        """Answer one message in its thread. Never raises for Dify or platform trouble."""
        if self._closing:
            log.info("not taking a new turn in %s: shutting down", incoming.thread_key)
            return
        if incoming.event_keys and not await self.store.claim_events(incoming.event_keys):
            log.info("already handled %s; skipping the redelivery", incoming.event_keys[0])
            return
        task = asyncio.current_task()
        if task is not None:
            self._turns.add(task)
        try:
            async with self._thread_turn(incoming.thread_key):
                await self._answer(incoming, sink)
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

    async def _answer(self, incoming: Incoming, sink: ReplySink) -> None:
        text = incoming.text.replace("\x00", "").strip()
        if not text and not incoming.attachments:
            await _post_notice(sink, EMPTY_MESSAGE_NOTICE)
            return
        limit = self.options.max_query_chars
        if len(text) > limit:
            await _post_notice(
                sink,
                f"Your message is {len(text):,} characters long; the assistant takes at most "
                f"{limit:,}. Please shorten it or split it into parts.",
            )
            return
        if incoming.shared and self.options.speaker_names and incoming.user_name:
            text = f"{incoming.user_name}: {text}"

        writer = ReplyWriter(sink)
        prefix = ""
        result = TurnResult()
        with contextlib.suppress(Exception):
            await sink.show_thinking()
        try:
            record = await self.store.get_thread(incoming.thread_key)
            app = (
                self.apps.get(record.app) if record else self.apps.for_scopes(incoming.route_scopes)
            )
            dify_user = record.dify_user if record else incoming.thread_key
            conversation_id = record.conversation_id if record else None
            try:
                await self._stream(
                    app, incoming, text, dify_user, conversation_id, writer, result, ""
                )
            except ConversationNotFound:
                if not conversation_id or result.text:
                    raise
                log.warning(
                    "conversation %s of %s is gone; starting a new one",
                    conversation_id,
                    incoming.thread_key,
                )
                prefix = LOST_CONTEXT_NOTICE + "\n\n"
                await self._stream(app, incoming, text, dify_user, None, writer, result, prefix)
            final = prefix + (result.text if result.text.strip() else EMPTY_ANSWER_NOTICE)
            if self.options.show_citations and result.citations:
                final += "\n\n" + format_citations(result.citations)
            keys = await writer.finish(final)
            await self._remember_answer(keys, result, dify_user, incoming.thread_key, app)
        except asyncio.CancelledError:
            await self._end_with_notice(writer, prefix + result.text, INTERRUPTED_NOTICE)
            raise
        except DifyError as exc:
            log.warning("turn in %s failed: %s", incoming.thread_key, exc)
            keys = await self._end_with_notice(writer, prefix + result.text, exc.user_notice)
            if result.message_id and keys:
                await self._remember_answer(keys, result, dify_user, incoming.thread_key, app)
        except Exception:
            log.exception("turn in %s failed unexpectedly", incoming.thread_key)
            await self._end_with_notice(writer, prefix + result.text, UNEXPECTED_NOTICE)
        finally:
            with contextlib.suppress(Exception):
                await sink.clear_thinking()

    async def _stream(
        self,
        app: DifyApp,
        incoming: Incoming,
        query: str,
        dify_user: str,
        conversation_id: str | None,
        writer: ReplyWriter,
        result: TurnResult,
        prefix: str,
    ) -> None:
        """Stream one Dify turn into ``writer``, filling ``result`` as events arrive."""
        mapped = conversation_id
        status = ""
        started = time.monotonic()
        async for event in app.client.stream_chat(
            query=query,
            user=dify_user,
            conversation_id=conversation_id,
            inputs=app.inputs_for(incoming),
        ):
            if event.conversation_id and event.conversation_id != mapped:
                mapped = event.conversation_id
                result.conversation_id = mapped
                # stored at once, so a crash mid-answer still keeps the conversation
                await self.store.save_thread(
                    ThreadRecord(incoming.thread_key, mapped, dify_user, app.name)
                )
            result.message_id = event.message_id or result.message_id
            result.task_id = event.task_id or result.task_id
            if isinstance(event, AnswerDelta):
                result.text += event.text
                status = ""
                if result.first_chunk_at is None:
                    result.first_chunk_at = time.monotonic() - started
            elif isinstance(event, AnswerReplaced):
                result.text = event.text
            elif isinstance(event, AgentThought):
                if event.tool:
                    status = f"🔧 Using {event.tool}…"
            elif isinstance(event, FileProduced):
                result.files.append(event)
            elif isinstance(event, MessageEnded):
                result.citations = list(event.citations)
                continue
            else:
                continue
            writer.update(prefix + result.text, status=status)

    async def _remember_answer(
        self, keys: list[str], result: TurnResult, dify_user: str, thread_key: str, app: DifyApp
    ) -> None:
        if not result.message_id:
            return
        await self.store.save_messages(
            [MessageRecord(key, result.message_id, dify_user, thread_key, app.name) for key in keys]
        )

    async def _end_with_notice(self, writer: ReplyWriter, text: str, notice: str) -> list[str]:
        """The answer so far (if any) with a short notice under it."""
        if text.strip() == LOST_CONTEXT_NOTICE.strip():
            text = ""  # the resend failed too: nothing new started
        final = f"{text}\n\n⚠️ {notice}" if text.strip() else f"⚠️ {notice}"
        try:
            return await writer.finish(final)
        except Exception as exc:
            log.error("could not show the notice in the thread: %s", exc)
            return []


async def _post_notice(sink: ReplySink, text: str) -> None:
    try:
        await sink.post(sink.render(text))
    except Exception as exc:
        log.error("could not post a notice: %s", exc)


def format_citations(citations: list[Citation], *, limit: int = 5) -> str:
    """A short numbered source list in Markdown."""
    lines = ["*Sources*"]
    for number, citation in enumerate(citations[:limit], start=1):
        name = citation.document_name or citation.dataset_name or "source"
        label = f"[{name}]({citation.url})" if citation.url else name
        snippet = " ".join(citation.content.split())
        if len(snippet) > 120:
            snippet = snippet[:117].rstrip() + "…"
        lines.append(f"{number}. {label}" + (f": {snippet}" if snippet else ""))
    return "\n".join(lines)
