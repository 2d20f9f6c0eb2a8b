"""One question and its streamed answer in one thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from dify_bridge.core.files import upload_attachments
from dify_bridge.core.presentation import format_citations, format_files, thought_status
from dify_bridge.core.types import (
    Citation,
    Controls,
    Incoming,
    MessageRecord,
    ReplySink,
    ThreadRecord,
)
from dify_bridge.core.voice import (
    MAX_AUDIO_BYTES,
    AudioSink,
    is_audio,
    spoken_answer,
    transcribe,
    wants_voice,
)
from dify_bridge.core.writer import ReplyWriter
from dify_bridge.dify.apps import AppDirectory, DifyApp
from dify_bridge.dify.events import (
    AgentThought,
    AnswerDelta,
    AnswerReplaced,
    FileProduced,
    HumanInputRequired,
    MessageEnded,
    StreamEvent,
    TtsAudio,
    pauses_answer,
)
from dify_bridge.downloads import MAX_DOWNLOAD_BYTES
from dify_bridge.errors import ConversationNotFound, DifyError, RateLimited, StreamCutOff
from dify_bridge.ops.metrics import Metrics
from dify_bridge.store import Store

log = logging.getLogger(__name__)

LOST_CONTEXT_NOTICE = (
    "_(The earlier conversation was no longer available, so this starts a new one.)_"
)
EMPTY_MESSAGE_NOTICE = "Hi! Ask me anything in this thread and I will answer here."
EMPTY_ANSWER_NOTICE = "_(The assistant returned an empty answer.)_"
INTERRUPTED_NOTICE = "_(Interrupted: the bridge is restarting. Please ask again in a moment.)_"
UNEXPECTED_NOTICE = "Something went wrong on our side while answering. Please try again."
STOPPED_NOTICE = "_(Stopped.)_"
CUT_OFF_NOTICE = StreamCutOff.user_notice
"""Under the part of an answer that arrived when the stream ended early (after ⚠️)."""
PAUSED_NOTICE = (
    "_(The workflow is now waiting for someone's input, which this bot cannot show here yet.)_"
)
"""A chatflow paused at a Human Input node. Never "ask again": that would run it twice."""
MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class BridgeOptions:
    quiet_speakers: frozenset[str] = frozenset()
    """Platforms whose speakers' names are NOT put before the query in shared channels."""
    max_query_chars: int = 20_000
    show_citations: bool = True
    stop_button: bool = True
    feedback_buttons: bool = True
    suggested_questions: bool = True
    opening_statement: bool = False
    voice_replies: str = "off"
    """``VOICE_REPLIES``: off, auto (when the app has text to speech) or always."""
    max_download_bytes: int = MAX_DOWNLOAD_BYTES
    """``MAX_DOWNLOAD_MB``: no download (file, recording, spoken answer) is read past this."""
    max_recording_bytes: int = MAX_AUDIO_BYTES
    """``MAX_RECORDING_MB``: the largest recording downloaded and sent to speech to text."""

    def names_speaker(self, incoming: Incoming) -> bool:
        return incoming.platform not in self.quiet_speakers


@dataclass
class TurnResult:
    text: str = ""
    conversation_id: str = ""
    message_id: str = ""
    task_id: str = ""
    citations: list[Citation] = field(default_factory=list)
    files: list[FileProduced] = field(default_factory=list)
    speech: list[str] = field(default_factory=list)
    """Base64 ``tts_message`` pieces, when the app streams its spoken answer."""
    first_chunk_at: float | None = None
    paused: bool = False
    """The chatflow waits for a person (``human_input_required`` / ``workflow_paused``)."""
    human_input: HumanInputRequired | None = None
    """The form Dify asked a person to fill in, when it sent one."""


class Turn:
    """Streams Dify's answer to ``incoming`` into ``sink``; never raises for outside trouble."""

    def __init__(
        self,
        incoming: Incoming,
        sink: ReplySink,
        *,
        store: Store,
        apps: AppDirectory,
        options: BridgeOptions,
        metrics: Metrics | None = None,
    ) -> None:
        self.incoming = incoming
        self.metrics = metrics or Metrics()
        self.sink = sink
        self.store = store
        self.apps = apps
        self.options = options
        self.writer = ReplyWriter(sink)
        self.result = TurnResult()
        self.app: DifyApp = apps.default
        self.dify_user = incoming.thread_key
        self.stop_requested = False
        self.answered = False
        self._dify_told_to_stop = False
        self._prefix = ""
        self._notes: list[str] = []

    @property
    def thread_key(self) -> str:
        return self.incoming.thread_key

    async def request_stop(self) -> bool:
        """Stop generating: Dify is told, the stream is left, the text so far stays."""
        if self.stop_requested:
            return False
        self.stop_requested = True
        await self._tell_dify_to_stop()
        return True

    async def _tell_dify_to_stop(self) -> None:
        """Once the task id is known (it comes with the first event), tell Dify once."""
        if self._dify_told_to_stop or not self.result.task_id:
            return
        self._dify_told_to_stop = True
        try:
            await self.app.client.stop(self.result.task_id, user=self.dify_user)
        except DifyError as exc:
            log.warning("Dify did not take the stop of %s: %s", self.thread_key, exc)

    async def run(self) -> None:
        query = self.incoming.text.replace("\x00", "").strip()
        if not query and not self.incoming.attachments:
            await self._post_notice(EMPTY_MESSAGE_NOTICE)
            return
        limit = self.options.max_query_chars
        if len(query) > limit:
            await self._post_notice(
                f"Your message is {len(query):,} characters long; the assistant takes at most "
                f"{limit:,}. Please shorten it or split it into parts."
            )
            return
        with contextlib.suppress(Exception):
            await self.sink.show_thinking()
        metrics = self.metrics
        metrics.active_streams.inc()
        started = time.monotonic()
        outcome = "answered"
        try:
            await self._answer(query)
            if self.stop_requested:
                outcome = "stopped"
            elif self.result.paused:
                outcome = "paused"
                log.info("the workflow in %s waits for a person's input", self.thread_key)
        except asyncio.CancelledError:
            outcome = "interrupted"
            await self._end_with_notice(INTERRUPTED_NOTICE)
            raise
        except DifyError as exc:
            if self.stop_requested:  # Dify ends a stopped chatflow with its stop reason
                outcome = "stopped"
                await self._finish()
                return
            metrics.errors.labels(type(exc).__name__).inc()
            if isinstance(exc, StreamCutOff):
                # only part of the answer: no buttons, no voice, nothing to rate
                outcome = "cut_off"
                log.warning("the answer in %s was cut off: %s", self.thread_key, exc)
                await self._end_with_notice(exc.user_notice, remember=False)
                return
            outcome = "failed"
            if isinstance(exc, RateLimited):
                metrics.rate_limited.labels("dify").inc()
            log.warning("turn in %s failed: %s", self.thread_key, exc)
            await self._end_with_notice(exc.user_notice)
        except Exception as exc:
            outcome = "failed"
            metrics.errors.labels(type(exc).__name__).inc()
            log.exception("turn in %s failed unexpectedly", self.thread_key)
            await self._end_with_notice(UNEXPECTED_NOTICE)
        finally:
            metrics.active_streams.dec()
            metrics.turns.labels(self.incoming.platform, outcome).inc()
            if self.result.first_chunk_at is not None:
                metrics.first_chunk.observe(self.result.first_chunk_at)
            log.info(
                "turn %s in %s",
                outcome,
                self.thread_key,
                extra={
                    "thread_key": self.thread_key,
                    "conversation_id": self.result.conversation_id,
                    "message_id": self.result.message_id,
                    "first_chunk_ms": _ms(self.result.first_chunk_at),
                    "total_ms": _ms(time.monotonic() - started),
                },
            )
            with contextlib.suppress(Exception):
                await self.sink.clear_thinking()
        self.answered = outcome == "answered"

    async def _answer(self, query: str) -> None:
        record = await self.store.get_thread(self.thread_key)
        if record is not None:
            self.app = self.apps.get(record.app)
            self.dify_user = record.dify_user
        else:
            self.app = self.apps.for_scopes(self.incoming.route_scopes)
        # no record, or followed with no conversation yet: this turn starts one
        if self.options.opening_statement and not (record and record.conversation_id):
            opening = (await self.app.parameters()).get("opening_statement")
            if isinstance(opening, str) and opening.strip():
                await self._post_notice(opening.strip())
        recordings = [a for a in self.incoming.attachments if is_audio(a)]
        if recordings:
            # transcribed inside the thread's turn, so it keeps its place in the thread
            heard = await transcribe(
                recordings[0],
                app=self.app,
                user=self.dify_user,
                max_bytes=self.options.max_recording_bytes,
                max_download_bytes=self.options.max_download_bytes,
            )
            if heard.notice:
                await self._post_notice(f"⚠️ {heard.notice}")
                return
            await self._post_notice(f'🎙️ "{heard.text}"')
            query = f"{heard.text}\n\n{query}" if query else heard.text
        files = await self._upload_attachments()
        if not query and not files:
            await self._end_with_notice(self._notes[0] if self._notes else EMPTY_MESSAGE_NOTICE)
            return
        query = query or "(sent a file)"
        incoming = self.incoming
        if incoming.shared and incoming.user_name and self.options.names_speaker(incoming):
            query = f"{incoming.user_name}: {query}"
        conversation_id = (record.conversation_id or None) if record else None
        try:
            await self._stream(query, conversation_id, files)
        except ConversationNotFound:
            if not conversation_id or self.result.text:
                raise
            log.warning(
                "conversation %s of %s is gone; starting a new one",
                conversation_id,
                self.thread_key,
            )
            self._prefix = LOST_CONTEXT_NOTICE + "\n\n"
            await self._stream(query, None, files)
        await self._finish()

    async def _stream(
        self, query: str, conversation_id: str | None, files: list[dict[str, Any]]
    ) -> None:
        mapped = conversation_id
        stop = Controls(stop=True) if self.options.stop_button else None
        events = self.app.client.stream_chat(
            query=query,
            user=self.dify_user,
            conversation_id=conversation_id,
            inputs=self.app.inputs_for(self.incoming),
            files=files,
        )
        saving: list[asyncio.Task[None]] = []
        try:
            async with contextlib.aclosing(events):  # a stop leaves the stream: close it now
                await self._read(events, mapped, stop, saving)
        finally:
            for task in saving:  # the mapping is confirmed before the turn ends
                await task

    async def _read(
        self,
        events: AsyncIterator[StreamEvent],
        mapped: str | None,
        stop: Controls | None,
        saving: list[asyncio.Task[None]],
    ) -> None:
        result = self.result
        status = ""
        started = time.monotonic()
        async for event in events:
            if event.conversation_id and event.conversation_id != mapped:
                mapped = result.conversation_id = event.conversation_id
                # stored at once, so a crash mid-answer still keeps the conversation;
                # alongside the first words, not before them
                record = ThreadRecord(self.thread_key, mapped, self.dify_user, self.app.name)
                saving.append(asyncio.create_task(self.store.save_thread(record)))
            result.message_id = event.message_id or result.message_id
            result.task_id = event.task_id or result.task_id
            if self.stop_requested:
                await self._tell_dify_to_stop()
                break
            if isinstance(event, AnswerDelta):
                result.text += event.text
                status = ""
                if result.first_chunk_at is None:
                    result.first_chunk_at = time.monotonic() - started
            elif isinstance(event, AnswerReplaced):
                result.text = event.text
            elif isinstance(event, AgentThought):
                status = thought_status(event) or status
            elif isinstance(event, FileProduced):
                result.files.append(event)
                continue
            elif isinstance(event, MessageEnded):
                result.citations = list(event.citations)
                continue
            elif isinstance(event, TtsAudio):
                result.speech.append(event.audio)
                continue
            elif pauses_answer(event):
                result.paused = True
                if isinstance(event, HumanInputRequired):
                    result.human_input = event
                continue
            else:
                continue
            self.writer.update(self._prefix + result.text, status=status, controls=stop)

    async def _finish(self) -> None:
        """The end of a stream that ended as Dify meant it to: complete, stopped or paused."""
        result = self.result
        text = result.text if result.text.strip() else EMPTY_ANSWER_NOTICE
        if self.stop_requested:
            text = f"{result.text}\n\n{STOPPED_NOTICE}" if result.text.strip() else STOPPED_NOTICE
        elif result.paused:
            text = f"{result.text}\n\n{PAUSED_NOTICE}" if result.text.strip() else PAUSED_NOTICE
        final = self._prefix + text
        if self.options.show_citations and result.citations and not self.stop_requested:
            final += "\n\n" + format_citations(result.citations)
        if result.files:
            final += "\n\n" + format_files(result.files, self.app.client.api_url)
        if self._notes:
            final += "\n\n" + "\n".join(f"_({note})_" for note in self._notes)
        if result.paused and not self.stop_requested:
            # not an answer yet: nothing to rate or follow up on until the workflow goes on
            await self.writer.finish(final)
            return
        feedback = Controls(feedback=self.options.feedback_buttons)
        controls = feedback if self.result.message_id and feedback else None
        keys = await self.writer.finish(final, controls=controls)
        await self._remember(keys)
        suggestions = await self._suggestions()
        if suggestions:  # asked only now: the app's LLM must not hold up the answer
            controls = Controls(feedback=self.options.feedback_buttons, suggestions=suggestions)
            await self.writer.finish(final, controls=controls)

    async def speak(self) -> None:
        """After the final text: the spoken answer as a file, when voice replies are on."""
        sink = self.sink
        if not self.answered or self.stop_requested or not self.result.message_id:
            return
        if not isinstance(sink, AudioSink):
            return
        if not wants_voice(self.options.voice_replies, await self.app.parameters()):
            return
        try:
            audio = await spoken_answer(
                self.app,
                message_id=self.result.message_id,
                user=self.dify_user,
                streamed=self.result.speech,
                max_bytes=self.options.max_download_bytes,
            )
            if audio:
                await sink.post_audio("answer.mp3", audio, "audio/mpeg")
        except DifyError as exc:
            log.warning("no spoken answer in %s: %s", self.thread_key, exc)
        except Exception as exc:
            log.warning("could not post the spoken answer in %s: %s", self.thread_key, exc)

    async def _suggestions(self) -> tuple[str, ...]:
        """The app's suggested follow-ups, when it has them turned on."""
        if not self.result.message_id or self.stop_requested:
            return ()
        if not self.options.suggested_questions:
            return ()
        after = (await self.app.parameters()).get("suggested_questions_after_answer")
        if not (isinstance(after, dict) and after.get("enabled")):
            return ()
        try:
            found = await self.app.client.suggested(self.result.message_id, user=self.dify_user)
        except DifyError as exc:
            log.info("no suggested questions for %s: %s", self.thread_key, exc)
            return ()
        return tuple(q for q in found if q.strip())[:MAX_SUGGESTIONS]

    async def _upload_attachments(self) -> list[dict[str, Any]]:
        """Upload what the app accepts (as the thread's user); note what it refuses."""
        documents = [a for a in self.incoming.attachments if not is_audio(a)]
        if not documents:
            return []
        files, refused = await upload_attachments(
            self.app, documents, user=self.dify_user, max_bytes=self.options.max_download_bytes
        )
        self._notes += refused
        return files

    async def _remember(self, keys: list[str]) -> None:
        if not self.result.message_id or not keys:
            return
        await self.store.save_messages(
            [
                MessageRecord(
                    key, self.result.message_id, self.dify_user, self.thread_key, self.app.name
                )
                for key in keys
            ]
        )

    async def _end_with_notice(self, notice: str, *, remember: bool = True) -> None:
        """The answer so far (if any) with a short notice under it.

        ``remember`` False: the messages are not recorded as Dify's answer, so a
        reaction on them is not sent as feedback.
        """
        text = self._prefix + self.result.text if self.result.text.strip() else ""
        final = f"{text}\n\n⚠️ {notice}" if text else f"⚠️ {notice}"
        try:
            keys = await self.writer.finish(final)
            if remember:
                await self._remember(keys)
        except Exception as exc:
            log.error("could not show the notice in the thread: %s", exc)

    async def _post_notice(self, text: str) -> None:
        try:
            await self.sink.post(self.sink.render(text))
        except Exception as exc:
            log.error("could not post a notice: %s", exc)


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
