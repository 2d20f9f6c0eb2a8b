"""A fake Dify Service API on a real local HTTP port, for tests and benchmarks.

:class:`FakeDify` speaks the same HTTP and SSE as a Dify chat app: bearer-key
auth, ``POST /chat-messages`` in streaming (``data: {json}`` events flushed one
by one, ``event: ping`` keep-alives) and blocking mode, conversations owned by
``(app key, user)``, feedback, stop, parameters, files and audio. It answers
deterministically, and tests can script faults: stalls, mid-stream errors,
dropped connections, streams that end cleanly before ``message_end``, chatflows
that pause for a person, pre-stream error responses, moderation replacements,
deleted conversations.

Usage::

    async with FakeDify(chunk_delay=0.03) as fake:
        client = httpx.AsyncClient(base_url=fake.url)
        fake.script("Hello there", citations=[{"document_name": "FAQ"}])
        ...

The parts, each a layer of :class:`FakeDify`: :mod:`.state` (what it holds),
:mod:`.scripting` (what a test steers), :mod:`.faults`, :mod:`.streaming` and
:mod:`.chat` (``/chat-messages``), :mod:`.workflow` (chatflow events),
:mod:`.conversations`, :mod:`.files` (files and audio), :mod:`.apps`
(parameters, info, meta) and :mod:`.server` (routes, auth, errors).
"""

from tests.fakes.dify.records import (
    FAKE_MP3,
    FakeConversation,
    FakeFile,
    FakeMessage,
    RecordedRequest,
    ScriptedAnswer,
    split_chunks,
)
from tests.fakes.dify.server import FakeDify
from tests.fakes.dify.wire import DEFAULT_ERROR_MESSAGES

__all__ = [
    "DEFAULT_ERROR_MESSAGES",
    "FAKE_MP3",
    "FakeConversation",
    "FakeDify",
    "FakeFile",
    "FakeMessage",
    "RecordedRequest",
    "ScriptedAnswer",
    "split_chunks",
]
