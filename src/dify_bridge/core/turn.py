"""One question and its streamed answer in one thread: the order of the steps."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from dify_bridge.core import notices
from dify_bridge.core.ending import (
    final_text,
    remember_answer,
    report_turn,
    say_answer,
    suggestions_for,
)
from dify_bridge.core.formflow import FormDesk
from dify_bridge.core.forms import message_of
from dify_bridge.core.inflight import AnswerLedger
from dify_bridge.core.options import BridgeOptions
from dify_bridge.core.output import post_notice, quietly
from dify_bridge.core.ports import ReplySink
from dify_bridge.core.question import prepare_question
from dify_bridge.core.stream import AnswerStream, StopSwitch, TurnResult
from dify_bridge.core.types import Controls, Incoming
from dify_bridge.core.writer import ReplyWriter
from dify_bridge.dify.apps import AppDirectory, DifyApp
from dify_bridge.errors import (
    ConversationNotFound,
    DifyError,
    RateLimited,
    SinkError,
    StoreError,
    StreamCutOff,
)
from dify_bridge.keys import dify_user_for
from dify_bridge.ops.metrics import Metrics
from dify_bridge.store import Store
from dify_bridge.store.records import FormRecord

__all__ = ["Turn"]

log = logging.getLogger(__name__)


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
        metrics: Metrics,
        forms: FormDesk | None = None,
        ledger: AnswerLedger | None = None,
    ) -> None:
        self.incoming = incoming
        self.ledger = ledger
        self.forms = forms
        self.sink = sink
        self.store = store
        self.apps = apps
        self.options = options
        self.metrics = metrics
        self.writer = ReplyWriter(sink)
        self.result = TurnResult()
        self.app: DifyApp = apps.default
        self.dify_user = dify_user_for(incoming.thread_key)
        self.stop = StopSwitch(self.result)
        self.outcome = "failed"
        self._prefix = ""
        self._notes: list[str] = []

    @property
    def thread_key(self) -> str:
        return self.incoming.thread_key

    @property
    def message_keys(self) -> list[str]:
        """The messages this answer has posted so far."""
        return self.writer.message_keys

    @property
    def stop_requested(self) -> bool:
        return self.stop.requested

    async def run(self) -> None:
        query = self.incoming.text.replace("\x00", "").strip()
        if not query and not self.incoming.attachments:
            await post_notice(self.sink, notices.EMPTY_MESSAGE)
            return
        if len(query) > self.options.max_query_chars:
            await post_notice(self.sink, notices.too_long(len(query), self.options.max_query_chars))
            return
        await self._guarded(self._answer(query))

    async def resume(self, form: FormRecord) -> None:
        """The workflow's answer after ``form`` was submitted, in the same thread."""
        await self._guarded(self._follow(form))

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        await quietly(self.sink.show_thinking)
        self.metrics.active_streams.inc()
        started = time.monotonic()
        in_flight = await self.ledger.begin(self) if self.ledger is not None else ""
        try:
            await work
            self.outcome = "stopped" if self.stop_requested else "answered"
            if self.result.paused and not self.stop_requested:
                self.outcome = "paused"
        except asyncio.CancelledError:
            self.outcome = "interrupted"
            await self._end_with_notice(notices.INTERRUPTED)
            raise
        except DifyError as exc:
            await self._failed(exc)
        except (SinkError, StoreError) as exc:
            self.metrics.errors.labels(type(exc).__name__).inc()
            log.error("turn in %s failed: %s", self.thread_key, exc)
            await self._end_with_notice(notices.UNEXPECTED)
        finally:
            report_turn(self.metrics, self.incoming, self.outcome, self.result, started)
            await quietly(self.sink.clear_thinking)
            if self.ledger is not None:
                await self.ledger.end(in_flight)

    async def end_after_a_bug(self) -> None:
        """A bug ended the turn (the message's task boundary caught it): the answer so far
        ends with a notice, so its Stop button goes and its writer stops."""
        self.outcome = "failed"
        self.metrics.errors.labels("unexpected").inc()
        await self._end_with_notice(notices.UNEXPECTED)

    async def speak(self) -> None:
        """After the final text and outside the thread's turn: the spoken answer, if wanted."""
        if self.outcome == "answered":
            await say_answer(
                self.sink, self.app, self.result, user=self.dify_user, options=self.options
            )

    async def _answer(self, query: str) -> None:
        record = await self.store.get_thread(self.thread_key)
        if record is not None:
            self.app, self.dify_user = self.apps.get(record.app), record.dify_user
        else:
            self.app = self.apps.for_scopes(self.incoming.route_scopes)
        self.stop.bind(self.app, self.dify_user)
        conversation_id = record.conversation_id if record is not None else ""
        if not conversation_id and self.options.opening_statement:
            opening = (await self.app.parameters()).get("opening_statement")
            if isinstance(opening, str) and opening.strip():
                await post_notice(self.sink, opening.strip())
        question = await prepare_question(
            self.incoming, query, app=self.app, user=self.dify_user, options=self.options
        )
        self._notes = question.notes
        if question.heard:
            await post_notice(self.sink, f'🎙️ "{question.heard}"')
        if question.refusal:
            await self._end_with_notice(question.refusal)
            return
        stream = self._stream()
        inputs = self.app.inputs_for(self.incoming.placeholders)
        try:
            await stream.run(question.query, conversation_id or None, question.files, inputs)
        except ConversationNotFound:
            if not conversation_id or self.result.text:
                raise
            log.warning(
                "conversation %s of %s is gone; a new one", conversation_id, self.thread_key
            )
            self._prefix = stream.prefix = notices.LOST_CONTEXT + "\n\n"
            await stream.run(question.query, None, question.files, inputs)
        await self._finish()

    async def _follow(self, form: FormRecord) -> None:
        record = await self.store.get_thread(self.thread_key)
        self.app, self.dify_user = self.apps.get(form.app), form.dify_user
        self.stop.bind(self.app, self.dify_user)
        stream = self._stream()
        self.result.conversation_id = record.conversation_id if record else ""
        self.result.message_id = message_of(form)
        await stream.follow(form.workflow_run_id, self.result.conversation_id)
        await self._finish()

    def _stream(self) -> AnswerStream:
        stream = AnswerStream(
            app=self.app,
            thread_key=self.thread_key,
            dify_user=self.dify_user,
            writer=self.writer,
            result=self.result,
            save_thread=self.store.save_thread,
            controls=Controls(stop=True) if self.options.stop_button else None,
        )
        stream.stopping = self.stop
        return stream

    async def _finish(self) -> None:
        """The end of a stream that ended as Dify meant it to: complete, stopped or paused."""
        result, stopped = self.result, self.stop_requested
        final = final_text(
            result,
            prefix=self._prefix,
            stopped=stopped,
            notes=self._notes,
            options=self.options,
            api_url=self.app.client.api_url,
        )
        if result.paused and not stopped:  # nothing to rate until the workflow goes on
            await self.writer.finish(final)
            if result.human_input is not None and self.forms is not None:
                await self.forms.show(
                    result.human_input,
                    sink=self.sink,
                    thread_key=self.thread_key,
                    dify_user=self.dify_user,
                    app=self.app.name,
                )
            return
        feedback = self.options.feedback_buttons and bool(result.message_id)
        suggestions: tuple[str, ...] = ()
        if not stopped and self.options.suggested_questions and result.message_id:
            self.writer.update(final)  # the whole text at once; the app's LLM may take a while
            # what is shown is the answer already: a reaction meanwhile rates it
            await self._remember(self.writer.message_keys)
            suggestions = await suggestions_for(
                self.app, result, user=self.dify_user, options=self.options
            )
        controls = Controls(feedback=feedback, suggestions=suggestions)
        await self._remember(await self.writer.finish(final, controls=controls or None))

    async def _failed(self, exc: DifyError) -> None:
        if self.stop_requested:  # Dify ends a stopped chatflow with its stop reason
            self.outcome = "stopped"
            await self._finish()
            return
        self.metrics.errors.labels(type(exc).__name__).inc()
        if isinstance(exc, RateLimited):
            self.metrics.rate_limited.labels("dify").inc()
        cut_off = isinstance(exc, StreamCutOff)
        self.outcome = "cut_off" if cut_off else "failed"
        log.warning(
            "turn in %s %s (%s): %s",
            self.thread_key,
            self.outcome.replace("_", " "),
            exc.code or type(exc).__name__,
            exc,
        )
        # only part of an answer that was cut off: nothing to rate
        await self._end_with_notice(notices.for_error(exc), remember=not cut_off)

    async def _remember(self, keys: list[str]) -> None:
        await remember_answer(
            self.store,
            self.result,
            keys,
            thread_key=self.thread_key,
            user=self.dify_user,
            app=self.app.name,
        )

    async def _end_with_notice(self, notice: str, *, remember: bool = True) -> None:
        """The answer so far (if any) with a short notice under it; ``remember`` False:
        its messages are not recorded as Dify's answer (a reaction is not feedback)."""
        text = self._prefix + self.result.text if self.result.text.strip() else ""
        final = f"{text}\n\n⚠️ {notice}" if text else f"⚠️ {notice}"
        try:
            keys = await self.writer.finish(final)
            if remember:
                await self._remember(keys)
        except (SinkError, StoreError) as exc:
            log.error("could not show the notice in the thread: %s", exc)
