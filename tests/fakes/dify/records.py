"""What the fake Dify keeps: conversations, messages, files, scripted answers."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

CHAT_MODES = frozenset({"chat", "advanced-chat", "agent-chat"})
ALL_MODES = CHAT_MODES | {"completion", "workflow"}
AUDIO_EXTENSIONS = frozenset({"mp3", "mp4", "mpeg", "mpga", "m4a", "wav", "webm"})
AUDIO_MAX_BYTES = 15 * 1024 * 1024

#: A few bytes that start like an MP3 file (ID3 tag, then one silent frame header).
FAKE_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x0f" + b"\x00" * 15 + b"\xff\xfb\x90\x64" + b"\x00" * 64

_CHUNK_RE = re.compile(r"\s*\S{1,6}|\s+$")


def split_chunks(text: str) -> list[str]:
    """Split ``text`` into small word-ish pieces that join back to exactly ``text``."""
    return _CHUNK_RE.findall(text)


def now() -> int:
    return int(time.time())


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any | None
    query: dict[str, str]


@dataclass
class FakeMessage:
    """One question/answer pair. ``answer`` grows while it streams."""

    id: str
    conversation_id: str
    user: str
    query: str
    answer: str = ""
    rating: str | None = None
    feedback_content: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    created_at: int = field(default_factory=now)
    status: str = "normal"  # normal | error | stopped
    files: list[dict[str, Any]] = field(default_factory=list)
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)
    agent_thoughts: list[dict[str, Any]] = field(default_factory=list)
    task_id: str = ""


@dataclass
class FakeConversation:
    """A conversation owned by one ``(api_key, user)`` pair."""

    id: str
    api_key: str
    user: str
    inputs: dict[str, Any] = field(default_factory=dict)
    name: str = "New conversation"
    created_at: int = field(default_factory=now)
    updated_at: int = field(default_factory=now)
    messages: list[FakeMessage] = field(default_factory=list)

    @property
    def turns(self) -> list[tuple[str, str, str]]:
        """``(query, answer, message_id)`` for every turn, oldest first."""
        return [(m.query, m.answer, m.id) for m in self.messages]


@dataclass
class FakeFile:
    """A file uploaded through ``POST /files/upload``."""

    id: str
    name: str
    size: int
    extension: str
    mime_type: str
    user: str
    api_key: str
    content: bytes
    created_at: int = field(default_factory=now)
    sha256: str = field(init=False)
    """Of the bytes received, to compare with the file the user sent."""

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.content).hexdigest()


@dataclass
class ScriptedAnswer:
    """One queued answer; see :meth:`FakeDify.script`."""

    chunks: list[str]
    delay: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    stall_after: int | None = None
    error_after: int | None = None
    error_status: int = 400
    error_code: str = "completion_request_error"
    error_message: str = "[openai] Error: Request timed out."
    reset_after: int | None = None
    end_after: int | None = None
    human_input: dict[str, Any] | None = None
    replace_with: str | None = None
    agent_thoughts: list[dict[str, Any]] = field(default_factory=list)
    tts: bool = False
    workflow_error: str | None = None
    workflow_finished_first: bool = False
    events_after: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Failure:
    status: int
    code: str
    message: str
    retry_after: float | None


@dataclass
class Task:
    task_id: str
    user: str
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
