"""What a turn asks Dify: the words (typed or heard), the files, and who said it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dify_bridge.core import notices
from dify_bridge.core.files import upload_attachments
from dify_bridge.core.options import BridgeOptions
from dify_bridge.core.types import Incoming
from dify_bridge.core.voice import is_audio, transcribe
from dify_bridge.dify.apps import DifyApp

__all__ = ["Question", "prepare_question"]

FILE_ONLY_QUERY = "(sent a file)"


@dataclass
class Question:
    """The query and files to send, or ``refusal`` (one line) when there is nothing to send."""

    query: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)
    heard: str = ""
    """The words of a recording, shown in the thread before the answer."""
    notes: list[str] = field(default_factory=list)
    """One line per attachment not sent, shown under the answer."""
    refusal: str = ""
    """Why nothing is sent (shown after ⚠️): a recording not heard, no words, no file."""


async def prepare_question(
    incoming: Incoming, query: str, *, app: DifyApp, user: str, options: BridgeOptions
) -> Question:
    """Transcribe a recording and upload files as ``user``; add the speaker's name."""
    question = Question()
    recordings = [a for a in incoming.attachments if is_audio(a)]
    if recordings:
        heard = await transcribe(
            recordings[0],
            app=app,
            user=user,
            max_bytes=options.max_recording_bytes,
            max_download_bytes=options.max_download_bytes,
        )
        if heard.notice:
            question.refusal = heard.notice
            return question
        question.heard = heard.text
        query = f"{heard.text}\n\n{query}" if query else heard.text
    documents = [a for a in incoming.attachments if not is_audio(a)]
    if documents:
        question.files, question.notes = await upload_attachments(
            app, documents, user=user, max_bytes=options.max_download_bytes
        )
    if not query and not question.files:
        question.refusal = question.notes[0] if question.notes else notices.EMPTY_MESSAGE
        return question
    query = query or FILE_ONLY_QUERY
    if incoming.shared and incoming.user_name and options.names_speaker(incoming):
        query = f"{incoming.user_name}: {query}"
    if incoming.context:
        query = f"{incoming.context}\n\n{query}"
    question.query = query
    return question
