"""How an answer ends: its final text, the buttons under it, and its spoken form."""

from __future__ import annotations

import logging
import time

from dify_bridge.core import notices
from dify_bridge.core.options import BridgeOptions
from dify_bridge.core.ports import AudioSink, ReplySink
from dify_bridge.core.presentation import format_citations, format_files
from dify_bridge.core.stream import TurnResult
from dify_bridge.core.types import Incoming, MessageRecord
from dify_bridge.core.voice import spoken_answer, wants_voice
from dify_bridge.dify.apps import DifyApp
from dify_bridge.errors import DifyError, SinkError
from dify_bridge.ops.metrics import Metrics
from dify_bridge.store import Store

__all__ = [
    "MAX_SUGGESTIONS",
    "final_text",
    "remember_answer",
    "report_turn",
    "say_answer",
    "suggestions_for",
]

log = logging.getLogger(__name__)

MAX_SUGGESTIONS = 3


def final_text(
    result: TurnResult,
    *,
    prefix: str,
    stopped: bool,
    notes: list[str],
    options: BridgeOptions,
    api_url: str,
) -> str:
    """The whole last version of an answer that ended as Dify meant it to."""
    text = result.text if result.text.strip() else notices.EMPTY_ANSWER
    ending = notices.STOPPED if stopped else notices.PAUSED if result.paused else ""
    if ending == notices.PAUSED and result.human_input is not None:
        ending = notices.FORM_BELOW  # the form follows in a message of its own
    if ending:
        text = f"{result.text}\n\n{ending}" if result.text.strip() else ending
    final = prefix + text
    if result.form_timed_out:
        final = f"_({notices.FORM_TIMEOUT})_\n\n{final}"
    if options.show_citations and result.citations and not stopped:
        final += "\n\n" + format_citations(result.citations)
    if result.files:
        final += "\n\n" + format_files(result.files, api_url)
    if notes:
        final += "\n\n" + "\n".join(f"_({note})_" for note in notes)
    return final


async def suggestions_for(
    app: DifyApp, result: TurnResult, *, user: str, options: BridgeOptions
) -> tuple[str, ...]:
    """The app's suggested follow-ups, when it has them turned on."""
    if not result.message_id or not options.suggested_questions:
        return ()
    after = (await app.parameters()).get("suggested_questions_after_answer")
    if not (isinstance(after, dict) and after.get("enabled")):
        return ()
    try:
        found = await app.client.suggested(result.message_id, user=user)
    except DifyError as exc:
        log.info("no suggested questions for message %s: %s", result.message_id, exc)
        return ()
    return tuple(q for q in found if q.strip())[:MAX_SUGGESTIONS]


async def say_answer(
    sink: ReplySink, app: DifyApp, result: TurnResult, *, user: str, options: BridgeOptions
) -> None:
    """After the final text: the spoken answer as a file, when voice replies are on."""
    if not isinstance(sink, AudioSink) or not result.message_id:
        return
    if not wants_voice(options.voice_replies, await app.parameters()):
        return
    try:
        if result.reasoning_in_text:  # Dify would speak its stored text, thoughts included
            audio = await app.client.text_to_audio(
                text=result.text, user=user, max_bytes=options.max_download_bytes
            )
        else:
            audio = await spoken_answer(
                app,
                message_id=result.message_id,
                user=user,
                streamed=result.speech,
                max_bytes=options.max_download_bytes,
            )
        if audio:
            await sink.post_audio("answer.mp3", audio, "audio/mpeg")
    except DifyError as exc:
        log.warning("no spoken answer for message %s: %s", result.message_id, exc)
    except SinkError as exc:
        log.warning("could not post the spoken answer of %s: %s", result.message_id, exc)


async def remember_answer(
    store: Store, result: TurnResult, keys: list[str], *, thread_key: str, user: str, app: str
) -> None:
    """Which Dify message each posted message shows, so a reaction on it rates that answer."""
    if result.message_id and keys:
        records = [MessageRecord(k, result.message_id, user, thread_key, app) for k in keys]
        await store.save_messages(records)


def report_turn(
    metrics: Metrics, incoming: Incoming, outcome: str, result: TurnResult, started: float
) -> None:
    """The turn in the metrics and in one log line (with its ids and timings)."""
    metrics.active_streams.dec()
    metrics.turns.labels(incoming.platform, outcome).inc()
    if result.first_chunk_at is not None:
        metrics.first_chunk.observe(result.first_chunk_at)
    log.info(
        "turn %s in %s",
        outcome,
        incoming.thread_key,
        extra={
            "thread_key": incoming.thread_key,
            "conversation_id": result.conversation_id,
            "message_id": result.message_id,
            "first_chunk_ms": _ms(result.first_chunk_at),
            "total_ms": _ms(time.monotonic() - started),
        },
    )


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)
