"""Reads one Dify answer stream into a :class:`TurnResult`, showing it as it grows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from dify_bridge.core import notices
from dify_bridge.core.presentation import node_status, thought_status
from dify_bridge.core.reasoning import ReasoningFilter, strip_reasoning
from dify_bridge.core.types import Citation, Controls, ThreadRecord
from dify_bridge.core.writer import ReplyWriter
from dify_bridge.dify.apps import DifyApp
from dify_bridge.dify.events import (
    AgentThought,
    AnswerDelta,
    AnswerReplaced,
    FileProduced,
    HumanInputFilled,
    HumanInputRequired,
    HumanInputTimedOut,
    MessageEnded,
    NodeStarted,
    ReasoningDelta,
    StreamEvent,
    StreamResumed,
    TtsAudio,
    pauses_answer,
)
from dify_bridge.dify.fields import citations_of
from dify_bridge.errors import DifyError

__all__ = ["AnswerStream", "StopSwitch", "TurnResult"]

log = logging.getLogger(__name__)


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
    form_timed_out: bool = False
    """Dify said no one answered the form in time (``human_input_form_timeout``)."""
    resumed: bool = False
    """The stream broke and the chatflow's workflow run was reconnected to."""
    reasoning_in_text: bool = False
    """Dify's answer text held ``<think>`` blocks (left out of ``text``)."""


SaveThread = Callable[[ThreadRecord], Coroutine[Any, Any, None]]


class AnswerStream:
    """One chat request: its events go into ``result`` and, as text, into ``writer``."""

    def __init__(
        self,
        *,
        app: DifyApp,
        thread_key: str,
        dify_user: str,
        writer: ReplyWriter,
        result: TurnResult,
        save_thread: SaveThread,
        controls: Controls | None,
    ) -> None:
        self._app = app
        self._thread_key = thread_key
        self._user = dify_user
        self._writer = writer
        self._result = result
        self._save_thread = save_thread
        self._controls = controls
        self.prefix = ""
        """Shown before the answer (e.g. the lost-context line after a 404)."""
        self.stopping: Callable[[], Awaitable[bool]] | None = None
        """Asked before each event: True leaves the stream (a user's Stop)."""

    async def run(
        self, query: str, conversation_id: str | None, files: list[dict[str, Any]], inputs: Any
    ) -> None:
        events = self._app.client.stream_chat(
            query=query,
            user=self._user,
            conversation_id=conversation_id,
            inputs=inputs,
            files=files,
        )
        saving: list[asyncio.Task[None]] = []
        try:
            async with contextlib.aclosing(events):  # a stop leaves the stream: close it now
                left = await self._read(events, conversation_id, saving)
        finally:
            for task in saving:  # the mapping is confirmed before the turn ends
                await task
        if self._result.resumed and not left and not self._result.paused:
            await self._take_stored_answer()

    async def follow(self, workflow_run_id: str, conversation_id: str) -> None:
        """The rest of a chatflow's answer after its form was submitted: the run's
        events from a snapshot (the answer so far, restated), then live."""
        self._result.resumed = True  # a snapshot may lag: the stored answer decides
        events = self._app.client.follow_run(workflow_run_id, user=self._user)
        saving: list[asyncio.Task[None]] = []
        try:
            async with contextlib.aclosing(events):
                left = await self._read(events, conversation_id, saving)
        finally:
            for task in saving:
                await task
        if not left and not self._result.paused:
            await self._take_stored_answer()

    async def _read(
        self,
        events: AsyncIterator[StreamEvent],
        mapped: str | None,
        saving: list[asyncio.Task[None]],
    ) -> bool:
        """Returns True when the stream was left (a user's Stop) before its end."""
        result = self._result
        answer = ReasoningFilter()
        restating = False  # after a reconnection, until the answer is restated
        status = ""
        started = time.monotonic()
        async for event in events:
            # every event: a follow-up turn's resume reads the stored answer with it
            result.conversation_id = event.conversation_id or result.conversation_id
            if event.conversation_id and event.conversation_id != mapped:
                mapped = event.conversation_id
                # stored at once, so a crash mid-answer still keeps the conversation;
                # alongside the first words, not before them
                record = ThreadRecord(self._thread_key, mapped, self._user, self._app.name)
                saving.append(asyncio.create_task(self._save_thread(record)))
            result.message_id = event.message_id or result.message_id
            result.task_id = event.task_id or result.task_id
            if self.stopping is not None and await self.stopping():
                return True
            if isinstance(event, AnswerDelta):
                if restating:  # chunks before any message_replace: the run's log from its start
                    answer.replace("")
                    restating = False
                answer.feed(event.text)
                status = notices.THINKING if answer.thinking else ""
                if result.first_chunk_at is None:
                    result.first_chunk_at = time.monotonic() - started
            elif isinstance(event, AnswerReplaced):
                answer.replace(event.text)
                restating = False
                status = notices.THINKING if answer.thinking else status
            elif isinstance(event, ReasoningDelta):
                status = "" if event.final else notices.THINKING
            elif isinstance(event, AgentThought):
                status = thought_status(event) or status
            elif isinstance(event, NodeStarted):
                status = node_status(event) or status
            elif isinstance(event, StreamResumed):
                result.resumed = restating = True
                status = notices.RECONNECTING
            else:
                self._note(event)
                continue
            result.text, result.reasoning_in_text = answer.text, answer.seen
            self._writer.update(self.prefix + result.text, status=status, controls=self._controls)
        result.text = answer.finish()
        return False

    async def _take_stored_answer(self) -> None:
        """After a reconnection, the answer as Dify stored it when the run ended.

        Dify writes a chatflow's answer once, at ``message_end``; a snapshot taken
        mid-run may lag behind the chunks that were sent while no one listened, and
        a run that ended meanwhile sends only ``workflow_finished``."""
        result = self._result
        if not (result.conversation_id and result.message_id):
            return
        try:
            stored = await self._app.client.find_message(
                result.conversation_id, result.message_id, user=self._user
            )
        except DifyError as exc:
            log.warning("could not read the stored answer %s: %s", result.message_id, exc)
            return
        answer = stored.get("answer") if stored else None
        if not isinstance(answer, str) or not answer.strip():
            return
        result.text = strip_reasoning(answer)
        result.reasoning_in_text = result.reasoning_in_text or result.text != answer
        if stored and not result.citations:
            result.citations = list(citations_of(stored.get("retriever_resources")))

    def _note(self, event: StreamEvent) -> None:
        """Events that add to the answer without changing its text."""
        result = self._result
        if isinstance(event, FileProduced):
            result.files.append(event)
        elif isinstance(event, MessageEnded):
            result.citations = list(event.citations)
        elif isinstance(event, TtsAudio):
            result.speech.append(event.audio)
        elif isinstance(event, HumanInputFilled):  # a pause restated by a snapshot is over
            result.paused, result.human_input = False, None
        elif isinstance(event, HumanInputTimedOut):
            result.form_timed_out = True
            result.paused, result.human_input = False, None
        elif pauses_answer(event):
            result.paused = True
            if isinstance(event, HumanInputRequired):
                result.human_input = event


class StopSwitch:
    """A user's Stop: the stream is left at the next event, and Dify is told once
    (as soon as the task id, which comes with the first event, is known)."""

    def __init__(self, result: TurnResult) -> None:
        self.requested = False
        self._result = result
        self._app: DifyApp | None = None
        self._user = ""
        self._told = False

    def bind(self, app: DifyApp, user: str) -> None:
        """The app and Dify user the turn talks to (known once the thread is looked up)."""
        self._app, self._user = app, user

    async def request(self) -> bool:
        """True the first time; the text so far stays."""
        if self.requested:
            return False
        self.requested = True
        await self._tell_dify()
        return True

    async def __call__(self) -> bool:
        """Asked by the stream before each event: True leaves it."""
        if self.requested:
            await self._tell_dify()
        return self.requested

    async def _tell_dify(self) -> None:
        task_id = self._result.task_id
        if self._told or not task_id or self._app is None:
            return
        self._told = True
        try:
            await self._app.client.stop(task_id, user=self._user)
        except DifyError as exc:
            log.warning("Dify did not take the stop of task %s: %s", task_id, exc)
