"""The state every part of the fake Dify shares, and the request checks they share."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from tests.fakes.dify.apps import default_parameters
from tests.fakes.dify.records import (
    ALL_MODES,
    FAKE_MP3,
    Failure,
    FakeConversation,
    FakeFile,
    FakeMessage,
    RecordedRequest,
    ScriptedAnswer,
    Task,
)
from tests.fakes.dify.wire import ApiError


class DifyState:
    """What one fake Dify holds: its apps' keys and settings, conversations, recordings."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("app-test",),
        mode: str = "chat",
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float = 10.0,
        chunk_delay: float = 0.0,
    ) -> None:
        if mode not in ALL_MODES:
            raise ValueError(f"unknown app mode {mode!r}")
        self.api_keys: set[str] = set(api_keys)
        self.mode = mode
        self.host = host
        self.port = port
        self.ping_interval = ping_interval
        self.chunk_delay = chunk_delay
        self.url = ""

        self.conversations: dict[str, FakeConversation] = {}
        self.messages: dict[str, FakeMessage] = {}
        self.files: dict[str, FakeFile] = {}
        self.requests: list[RecordedRequest] = []
        self.stops: list[tuple[str, str]] = []
        self.deleted: set[str] = set()
        self.parameters: dict[str, Any] = default_parameters()
        self.info: dict[str, Any] = {
            "name": "Demo Assistant",
            "description": "A local stand-in for a Dify chat app.",
            "tags": [],
            "mode": mode,
            "author_name": "dify-bridge",
        }
        self.meta: dict[str, Any] = {"tool_icons": {}}
        self.suggestions_held: asyncio.Event | None = None
        """Set by a test: ``/suggested`` answers only once the event is set (a slow LLM)."""
        self.suggested_questions: list[str] = [
            "Can you give me an example?",
            "What should I try next?",
            "How does this work behind the scenes?",
        ]
        self.transcript = "This is a transcript of your voice message."
        self.speech: bytes = FAKE_MP3
        self.active_streams = 0
        self.max_concurrent_streams: int | None = None
        #: Every TTS request body, in order.
        self.tts_requests: list[dict[str, Any]] = []
        #: Every recording sent to ``/audio-to-text`` (``user`` is the sender), in order.
        self.transcriptions: list[FakeFile] = []

        self._scripts: deque[ScriptedAnswer] = deque()
        self._failures: deque[Failure] = deque()
        self._tasks: dict[str, Task] = {}
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._open: dict[int, web.Request] = {}

    @staticmethod
    def _key(request: web.Request) -> str:
        return request.headers.get("Authorization", "").partition(" ")[2].strip()

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        try:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            raise ApiError(
                400,
                "bad_request",
                "The browser (or proxy) sent a request that this server could not understand.",
            ) from exc
        if request.content_type != "application/json":
            raise ApiError(
                415,
                "unsupported_media_type",
                "Did not attempt to load JSON data because the request Content-Type was not "
                "'application/json'.",
            )
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_param", "Request body must be a JSON object")
        return body

    @staticmethod
    def _require_user(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ApiError(400, "invalid_param", "user is required")
        return value

    def _conversation_for(self, conversation_id: str, key: str, user: str) -> FakeConversation:
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.api_key != key or conv.user != user:
            raise ApiError(404, "not_found", "Conversation Not Exists.")
        return conv

    def _message_for(self, message_id: str, key: str, user: str) -> FakeMessage:
        msg = self.messages.get(message_id)
        conv = self.conversations.get(msg.conversation_id) if msg is not None else None
        if msg is None or conv is None or conv.api_key != key or msg.user != user:
            raise ApiError(404, "not_found", "Message Not Exists.")
        return msg

    def _default_answer(self, conv: FakeConversation, query: str) -> str:
        earlier = list(conv.messages)
        turn = len(earlier) + 1
        said = " ".join(query.split())
        if len(said) > 300:
            said = said[:297] + "..."
        if turn == 1:
            return (
                f"Hello! You said: **{said}**\n\n"
                "I'm the offline demo assistant, so I can't look anything up, but I can show "
                "you how *dify-bridge* behaves:\n\n"
                "- answers **stream** into the thread a few words at a time\n"
                "- every thread is its own conversation, so I remember what you said here\n"
                "- a 👍 or 👎 reaction on my reply is sent back as feedback\n\n"
                "Reply in this thread and I'll show you that I remember."
            )
        previous = " ".join(earlier[-1].query.split())
        if len(previous) > 200:
            previous = previous[:197] + "..."
        first = " ".join(earlier[0].query.split())
        if len(first) > 200:
            first = first[:197] + "..."
        return (
            f"This is turn **{turn}** of our conversation. You said: **{said}**\n\n"
            f"Earlier you asked: _{previous}_\n\n"
            "What I remember of this thread:\n\n"
            f"- **{turn}** questions so far, counting this one\n"
            f"- the first one was: _{first}_\n\n"
            "Keep going, or start a new thread for a fresh conversation."
        )
