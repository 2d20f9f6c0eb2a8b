"""How an answer ends: its final text, the buttons under it, and its spoken form."""

from __future__ import annotations

import logging

from dify_bridge.core import notices
from dify_bridge.core.options import BridgeOptions
from dify_bridge.core.ports import AudioSink, ReplySink
from dify_bridge.core.presentation import format_citations, format_files
from dify_bridge.core.stream import TurnResult
from dify_bridge.core.voice import spoken_answer, wants_voice
from dify_bridge.dify.apps import DifyApp
from dify_bridge.errors import DifyError, SinkError

__all__ = ["MAX_SUGGESTIONS", "final_text", "say_answer", "suggestions_for"]

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
    if ending:
        text = f"{result.text}\n\n{ending}" if result.text.strip() else ending
    final = prefix + text
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
