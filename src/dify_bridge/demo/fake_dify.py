"""A fake Dify Service API on a real local HTTP port.

:class:`FakeDify` speaks the same HTTP and SSE as a Dify chat app: bearer-key
auth, ``POST /chat-messages`` in streaming (``data: {json}`` events flushed one
by one, ``event: ping`` keep-alives) and blocking mode, conversations owned by
``(app key, user)``, feedback, stop, parameters, files and audio. It answers
deterministically, so the offline demo has something pleasant to stream and
tests can script faults: stalls, mid-stream errors, dropped connections,
streams that end cleanly before ``message_end``, chatflows that pause for a person,
pre-stream error responses, moderation replacements, deleted conversations.

Usage::

    async with FakeDify(chunk_delay=0.03) as fake:
        client = httpx.AsyncClient(base_url=fake.url)
        fake.script("Hello there", citations=[{"document_name": "FAQ"}])
        ...
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "FakeConversation",
    "FakeDify",
    "FakeFile",
    "FakeMessage",
    "RecordedRequest",
    "ScriptedAnswer",
    "split_chunks",
]

log = logging.getLogger(__name__)

CHAT_MODES = frozenset({"chat", "advanced-chat", "agent-chat"})
ALL_MODES = CHAT_MODES | {"completion", "workflow"}
AUDIO_EXTENSIONS = frozenset({"mp3", "mp4", "mpeg", "mpga", "m4a", "wav", "webm"})
AUDIO_MAX_BYTES = 15 * 1024 * 1024

#: A few bytes that start like an MP3 file (ID3 tag, then one silent frame header).
FAKE_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x0f" + b"\x00" * 15 + b"\xff\xfb\x90\x64" + b"\x00" * 64

DEFAULT_ERROR_MESSAGES: dict[str, str] = {
    "unauthorized": "Access token is invalid",
    "not_found": "Not Found",
    "invalid_param": "Invalid parameter",
    "app_unavailable": "App unavailable, please check your app configurations.",
    "not_chat_app": "Please check if your app mode matches the right API route.",
    "provider_not_initialize": (
        "No valid model provider credentials found. Please go to Settings -> Model Provider "
        "to complete your provider credentials."
    ),
    "provider_quota_exceeded": (
        "Your quota for Dify Hosted Model Provider has been exhausted. Please go to "
        "Settings -> Model Provider to complete your own provider credentials."
    ),
    "model_currently_not_support": (
        "Dify Hosted OpenAI trial currently not support the GPT-4 model."
    ),
    "completion_request_error": "Completion request failed.",
    "too_many_requests": "Too many requests. Please try again later.",
    "rate_limit_error": "Rate Limit Error",
    "internal_server_error": (
        "The server encountered an internal error and was unable to complete your request."
    ),
    "forbidden": "The app's API service has been disabled.",
}

_CHUNK_RE = re.compile(r"\s*\S{1,6}|\s+$")


def split_chunks(text: str) -> list[str]:
    """Split ``text`` into small word-ish pieces that join back to exactly ``text``."""
    return _CHUNK_RE.findall(text)


def _now() -> int:
    return int(time.time())


def _is_uuid(value: str) -> bool:
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
    created_at: int = field(default_factory=_now)
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
    created_at: int = field(default_factory=_now)
    updated_at: int = field(default_factory=_now)
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
    created_at: int = field(default_factory=_now)
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
class _Failure:
    status: int
    code: str
    message: str
    retry_after: float | None


@dataclass
class _Task:
    task_id: str
    user: str
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


class _ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message or DEFAULT_ERROR_MESSAGES.get(code, code)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return web.json_response(
            {"code": self.code, "message": self.message, "status": self.status},
            status=self.status,
            headers=self.headers,
        )


class _ClientGone(Exception):
    """The client closed the connection, or the stream must end silently."""


def _default_parameters() -> dict[str, Any]:
    return {
        "opening_statement": "",
        "suggested_questions": [],
        "suggested_questions_after_answer": {"enabled": False},
        "speech_to_text": {"enabled": False},
        "text_to_speech": {"enabled": False, "voice": "", "language": "", "autoPlay": "disabled"},
        "retriever_resource": {"enabled": True},
        "annotation_reply": {"enabled": False},
        "more_like_this": {"enabled": False},
        "sensitive_word_avoidance": {"enabled": False},
        "user_input_form": [],
        "file_upload": {
            "image": {
                "enabled": False,
                "number_limits": 3,
                "detail": "high",
                "transfer_methods": ["remote_url", "local_file"],
            },
            "enabled": False,
            "allowed_file_types": [],
            "allowed_file_extensions": [],
            "allowed_file_upload_methods": ["remote_url", "local_file"],
            "number_limits": 3,
        },
        "system_parameters": {
            "file_size_limit": 15,
            "image_file_size_limit": 10,
            "audio_file_size_limit": 50,
            "video_file_size_limit": 100,
            "workflow_file_upload_limit": 10,
        },
    }


def _usage(query: str, answer: str, latency: float) -> dict[str, Any]:
    prompt = 40 + len(query.split()) * 2
    completion = max(1, len(answer.split()) * 4 // 3)
    prompt_price = prompt * 0.000001
    completion_price = completion * 0.000002
    return {
        "prompt_tokens": prompt,
        "prompt_unit_price": "0.001",
        "prompt_price_unit": "0.001",
        "prompt_price": f"{prompt_price:.7f}",
        "completion_tokens": completion,
        "completion_unit_price": "0.002",
        "completion_price_unit": "0.001",
        "completion_price": f"{completion_price:.7f}",
        "total_tokens": prompt + completion,
        "total_price": f"{prompt_price + completion_price:.7f}",
        "currency": "USD",
        "latency": round(latency, 6),
    }


def _citation(index: int, given: Mapping[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "position": index + 1,
        "dataset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataset-{index}")),
        "dataset_name": "Demo knowledge",
        "document_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"document-{index}")),
        "document_name": f"document-{index + 1}.md",
        "segment_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"segment-{index}")),
        "score": round(0.95 - index * 0.07, 4),
        "content": "",
    }
    base.update(given)
    return base


class _Sse:
    """Serialised writes of SSE frames onto one response."""

    def __init__(self, request: web.Request, resp: web.StreamResponse) -> None:
        self.request = request
        self.resp = resp
        self.lock = asyncio.Lock()

    def gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def write_raw(self, data: bytes) -> None:
        if self.gone():
            raise _ClientGone
        async with self.lock:
            try:
                await self.resp.write(data)
            except (ConnectionError, RuntimeError) as exc:
                raise _ClientGone from exc

    async def send(self, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False)
        await self.write_raw(f"data: {body}\n\n".encode())

    async def ping(self) -> None:
        await self.write_raw(b"event: ping\n\n")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeDify:
    """A Dify Service API for one or more app keys, served on ``host:port``.

    ``mode`` is the app type: ``chat``, ``advanced-chat`` (chatflow),
    ``agent-chat``, or the non-chat ``completion`` / ``workflow`` (which
    ``/chat-messages`` rejects like Dify does). ``chunk_delay`` is the pause
    between streamed chunks; ``ping_interval`` the keep-alive period.
    """

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
        self.parameters: dict[str, Any] = _default_parameters()
        self.info: dict[str, Any] = {
            "name": "Demo Assistant",
            "description": "A local stand-in for a Dify chat app.",
            "tags": [],
            "mode": mode,
            "author_name": "dify-bridge",
        }
        self.meta: dict[str, Any] = {"tool_icons": {}}
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
        self._failures: deque[_Failure] = deque()
        self._tasks: dict[str, _Task] = {}
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._open: dict[int, web.Request] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Start serving; returns the API base URL (``http://host:port/v1``)."""
        if self._runner is not None:
            return self.url
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat-messages", self._chat_messages)
        app.router.add_post("/v1/chat-messages/{task_id}/stop", self._stop_task)
        app.router.add_post("/v1/messages/{message_id}/feedbacks", self._feedback)
        app.router.add_get("/v1/messages/{message_id}/suggested", self._suggested)
        app.router.add_get("/v1/messages", self._list_messages)
        app.router.add_get("/v1/conversations", self._list_conversations)
        app.router.add_delete("/v1/conversations/{conversation_id}", self._delete_conversation)
        app.router.add_post("/v1/conversations/{conversation_id}/name", self._rename)
        app.router.add_get("/v1/parameters", self._parameters)
        app.router.add_get("/v1/info", self._info)
        app.router.add_get("/v1/meta", self._meta)
        app.router.add_post("/v1/files/upload", self._upload)
        app.router.add_post("/v1/audio-to-text", self._audio_to_text)
        app.router.add_post("/v1/text-to-audio", self._text_to_audio)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}/v1"
        return self.url

    async def stop(self) -> None:
        """Stop serving; open streams are cut off (their connections aborted)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing.set()
        for request in list(self._open.values()):
            if request.transport is not None:
                request.transport.abort()
        for task in list(self._tasks.values()):
            task.stopped.set()
        await runner.cleanup()

    async def __aenter__(self) -> FakeDify:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ scripting

    def script(
        self,
        answer: str | Sequence[str],
        *,
        delay: float | None = None,
        events: Sequence[dict[str, Any]] | None = None,
        citations: Sequence[dict[str, Any]] | None = None,
        files: Sequence[dict[str, Any]] | None = None,
        stall_after: int | None = None,
        error_after: int | None = None,
        reset_after: int | None = None,
        end_after: int | None = None,
        human_input: Mapping[str, Any] | None = None,
        replace_with: str | None = None,
        agent_thoughts: Sequence[dict[str, Any]] | None = None,
        tts: bool = False,
        workflow_error: str | None = None,
        workflow_finished_first: bool = False,
        error_status: int = 400,
        error_code: str = "completion_request_error",
        error_message: str = "[openai] Error: Request timed out.",
        events_after: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Queue the answer for the next ``POST /chat-messages`` (FIFO).

        ``answer`` is a whole text (streamed in small word-ish chunks) or an
        explicit list of chunks. ``delay`` overrides ``chunk_delay``.
        ``events`` are extra events sent before the answer (after the
        workflow/node preamble of chatflow apps); ``events_after`` after the
        last chunk. An event dict is sent as ``data: {json}`` with
        ``task_id``/``message_id``/``conversation_id``/``created_at`` filled
        in when absent; ``{"raw": "..."}`` is written verbatim and
        ``{"event": "ping"}`` is a keep-alive.

        Faults, counted in chunks sent: ``stall_after`` goes silent (no
        pings) until the client leaves; ``error_after`` sends an ``error``
        event (``error_status``/``error_code``/``error_message``) and ends;
        ``reset_after`` aborts the TCP connection; ``end_after`` ends the
        response cleanly (the HTTP body is complete) with no ``message_end``,
        ``error`` or ``workflow_finished``. ``workflow_error`` (chatflow
        only) ends the answer with a failed ``workflow_finished`` and an
        ``error`` event, without ``message_end``.

        ``human_input`` (chatflow only) is a Human Input node after the answer
        so far: the stream sends ``human_input_required`` (the default form,
        updated with the given fields) and ``workflow_paused``, then ends
        without ``message_end``, as Dify does while the workflow waits.

        ``replace_with`` sends a ``message_replace`` after the chunks;
        ``citations`` become ``message_end.metadata.retriever_resources``;
        ``files`` are sent as ``message_file`` events (and listed in
        ``message_end.files``); ``agent_thoughts`` are sent before the answer
        of an agent app; ``tts`` adds ``tts_message`` / ``tts_message_end``.
        """
        chunks = split_chunks(answer) if isinstance(answer, str) else list(answer)
        if human_input is not None and self.mode != "advanced-chat":
            raise ValueError("only a chatflow (advanced-chat) app has Human Input nodes")
        self._scripts.append(
            ScriptedAnswer(
                chunks=chunks,
                delay=delay,
                events=[dict(e) for e in events or ()],
                citations=[dict(c) for c in citations or ()],
                files=[dict(f) for f in files or ()],
                stall_after=stall_after,
                error_after=error_after,
                error_status=error_status,
                error_code=error_code,
                error_message=error_message,
                reset_after=reset_after,
                end_after=end_after,
                human_input=dict(human_input) if human_input is not None else None,
                replace_with=replace_with,
                agent_thoughts=[dict(t) for t in agent_thoughts or ()],
                tts=tts,
                workflow_error=workflow_error,
                workflow_finished_first=workflow_finished_first,
                events_after=[dict(e) for e in events_after or ()],
            )
        )

    @property
    def pending_scripts(self) -> int:
        """How many scripted answers are still queued."""
        return len(self._scripts)

    def fail_next(
        self,
        status: int,
        code: str,
        message: str = "",
        *,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` ``POST /chat-messages`` with this JSON error."""
        for _ in range(times):
            self._failures.append(_Failure(status, code, message, retry_after))

    def delete_conversation(self, conversation_id: str) -> None:
        """Forget a conversation as if it had been deleted in Dify."""
        conv = self.conversations.pop(conversation_id, None)
        self.deleted.add(conversation_id)
        if conv is not None:
            for msg in conv.messages:
                self.messages.pop(msg.id, None)

    def create_conversation(
        self, user: str, *, api_key: str | None = None, queries: Sequence[str] = ()
    ) -> FakeConversation:
        """Make a conversation directly (e.g. one that exists before a test)."""
        key = api_key if api_key is not None else next(iter(sorted(self.api_keys)))
        conv = FakeConversation(id=str(uuid.uuid4()), api_key=key, user=user)
        if queries:
            conv.name = queries[0][:40]
        self.conversations[conv.id] = conv
        for query in queries:
            msg = FakeMessage(
                id=str(uuid.uuid4()),
                conversation_id=conv.id,
                user=user,
                query=query,
                answer=self._default_answer(conv, query),
            )
            conv.messages.append(msg)
            self.messages[msg.id] = msg
        return conv

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every ``POST /chat-messages``, in order."""
        return [
            r.json
            for r in self.requests
            if r.method == "POST" and r.path == "/v1/chat-messages" and isinstance(r.json, dict)
        ]

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path (without ``/v1``) equals ``path``."""
        full = "/v1" + path if not path.startswith("/v1") else path
        return [
            r for r in self.requests if r.path == full and (method is None or r.method == method)
        ]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Poll ``condition`` until it holds (wrap in ``asyncio.timeout`` to bound it).

        E.g. ``await fake.wait_until(lambda: fake.active_streams == 1)``.
        """
        while not condition():  # noqa: ASYNC110 - the condition is arbitrary, so poll it
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any | None = None
        if request.can_read_body and request.content_type == "application/json":
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                json=body,
                query=dict(request.query),
            )
        )
        try:
            self._authenticate(request)
            return await handler(request)
        except _ApiError as exc:
            return exc.response()
        except web.HTTPException as exc:
            if exc.status == 404:
                msg = (
                    "The requested URL was not found on the server. If you entered the URL "
                    "manually please check your spelling and try again."
                )
                return _ApiError(404, "not_found", msg).response()
            if exc.status == 405:
                msg = "The method is not allowed for the requested URL."
                return _ApiError(405, "method_not_allowed", msg).response()
            raise

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != "bearer":
            raise _ApiError(
                401,
                "unauthorized",
                "Authorization header must be provided and start with 'Bearer'",
            )
        if token.strip() not in self.api_keys:
            raise _ApiError(401, "unauthorized", "Access token is invalid")
        return token.strip()

    @staticmethod
    def _key(request: web.Request) -> str:
        return request.headers.get("Authorization", "").partition(" ")[2].strip()

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        try:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            raise _ApiError(
                400,
                "bad_request",
                "The browser (or proxy) sent a request that this server could not understand.",
            ) from exc
        if request.content_type != "application/json":
            raise _ApiError(
                415,
                "unsupported_media_type",
                "Did not attempt to load JSON data because the request Content-Type was not "
                "'application/json'.",
            )
        if not isinstance(body, dict):
            raise _ApiError(400, "invalid_param", "Request body must be a JSON object")
        return body

    @staticmethod
    def _require_user(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise _ApiError(400, "invalid_param", "user is required")
        return value

    def _conversation_for(self, conversation_id: str, key: str, user: str) -> FakeConversation:
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.api_key != key or conv.user != user:
            raise _ApiError(404, "not_found", "Conversation Not Exists.")
        return conv

    def _message_for(self, message_id: str, key: str, user: str) -> FakeMessage:
        msg = self.messages.get(message_id)
        conv = self.conversations.get(msg.conversation_id) if msg is not None else None
        if msg is None or conv is None or conv.api_key != key or msg.user != user:
            raise _ApiError(404, "not_found", "Message Not Exists.")
        return msg

    # ------------------------------------------------------------------ chat-messages

    async def _chat_messages(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request)
        if self._failures:
            failure = self._failures.popleft()
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            raise _ApiError(failure.status, failure.code, failure.message, headers)
        if self.mode not in CHAT_MODES:
            raise _ApiError(400, "not_chat_app")
        body = await self._json(request)

        inputs = body.get("inputs")
        if not isinstance(inputs, dict):
            raise _ApiError(400, "invalid_param", "inputs is required and must be an object")
        query = body.get("query")
        if query is None or query == "":
            raise _ApiError(400, "invalid_param", "query is required")
        if not isinstance(query, str):
            raise _ApiError(400, "invalid_param", "query must be a string")
        user = self._require_user(body.get("user"))
        mode = body.get("response_mode")
        if mode not in (None, "streaming", "blocking"):
            raise _ApiError(400, "invalid_param", "response_mode must be streaming or blocking")
        streaming = mode == "streaming"
        if not streaming and self.mode == "agent-chat":
            raise _ApiError(400, "invalid_param", "Agent Chat App does not support blocking mode")
        conversation_id = body.get("conversation_id")
        if conversation_id is not None and not isinstance(conversation_id, str):
            raise _ApiError(400, "invalid_param", "conversation_id must be a valid UUID")
        conversation_id = (conversation_id or "").strip()
        if conversation_id and not _is_uuid(conversation_id):
            raise _ApiError(400, "invalid_param", "conversation_id must be a valid UUID")
        self._check_inputs(inputs)
        self._check_files(body.get("files"))

        conv: FakeConversation | None = None
        if conversation_id:
            conv = self._conversation_for(conversation_id, key, user)

        limit = self.max_concurrent_streams
        if limit is not None and self.active_streams >= limit:
            raise _ApiError(
                429,
                "too_many_requests",
                "Too many requests. Please try again later. The current maximum concurrent "
                f"requests allowed for this app is {limit}.",
            )

        if conv is None:
            conv = FakeConversation(
                id=str(uuid.uuid4()),
                api_key=key,
                user=user,
                inputs=dict(inputs),
                name=query.strip()[:40] if body.get("auto_generate_name", True) else "New chat",
            )
            self.conversations[conv.id] = conv
        script = self._scripts.popleft() if self._scripts else None
        if script is None:
            script = ScriptedAnswer(chunks=split_chunks(self._default_answer(conv, query)))
        msg = FakeMessage(
            id=str(uuid.uuid4()),
            conversation_id=conv.id,
            user=user,
            query=query,
            inputs=dict(inputs),
            task_id=str(uuid.uuid4()),
        )
        conv.messages.append(msg)
        conv.updated_at = _now()
        self.messages[msg.id] = msg
        task = _Task(msg.task_id, user)
        self._tasks[task.task_id] = task
        self.active_streams += 1
        try:
            if streaming:
                return await self._stream(request, conv, msg, task, script)
            return await self._blocking(request, conv, msg, task, script)
        finally:
            self.active_streams -= 1
            self._tasks.pop(task.task_id, None)

    def _check_inputs(self, inputs: Mapping[str, Any]) -> None:
        for item in self.parameters.get("user_input_form") or []:
            if not isinstance(item, dict):
                continue
            for kind, spec in item.items():
                if not isinstance(spec, dict):
                    continue
                var = spec.get("variable", "")
                value = inputs.get(var)
                if spec.get("required") and (value is None or value == ""):
                    raise _ApiError(400, "invalid_param", f"{var} is required in input form")
                if value is None or value == "":
                    continue
                if kind == "select":
                    options = spec.get("options") or []
                    if value not in options:
                        raise _ApiError(
                            400,
                            "invalid_param",
                            f"{var} in input form must be one of the following: {options}",
                        )
                elif kind in ("text-input", "paragraph"):
                    if not isinstance(value, str):
                        raise _ApiError(
                            400, "invalid_param", f"{var} in input form must be a string"
                        )
                    max_length = spec.get("max_length")
                    if isinstance(max_length, int) and max_length and len(value) > max_length:
                        raise _ApiError(
                            400,
                            "invalid_param",
                            f"{var} in input form must be less than {max_length} characters",
                        )
                elif kind == "number" and not isinstance(value, int | float):
                    raise _ApiError(400, "invalid_param", f"{var} in input form must be a number")

    def _check_files(self, files: Any) -> None:
        if files is None:
            return
        if not isinstance(files, list):
            raise _ApiError(400, "invalid_param", "files must be a list")
        for item in files:
            if not isinstance(item, dict):
                raise _ApiError(400, "invalid_param", "files must be a list of objects")
            method = item.get("transfer_method")
            if method == "local_file":
                if item.get("upload_file_id") not in self.files:
                    raise _ApiError(400, "invalid_param", "Invalid upload file")
            elif method == "remote_url":
                if not item.get("url"):
                    raise _ApiError(400, "invalid_param", "Invalid file url")
            else:
                raise _ApiError(400, "invalid_param", f"Unsupported transfer method: {method}")

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

    # ------------------------------------------------------------------ streaming

    def _base(self, conv: FakeConversation, msg: FakeMessage) -> dict[str, Any]:
        return {
            "task_id": msg.task_id,
            "message_id": msg.id,
            "conversation_id": conv.id,
            "created_at": msg.created_at,
        }

    async def _stream(
        self,
        request: web.Request,
        conv: FakeConversation,
        msg: FakeMessage,
        task: _Task,
        script: ScriptedAnswer,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            },
        )
        try:
            await resp.prepare(request)
        except (ConnectionError, RuntimeError):
            msg.status = "error"
            return resp
        sse = _Sse(request, resp)
        pinger = asyncio.create_task(self._pinger(sse))
        self._open[id(request)] = request
        try:
            await self._emit_answer(sse, request, conv, msg, task, script, pinger)
        except _ClientGone:
            if msg.status == "normal":
                msg.status = "error"
        finally:
            self._open.pop(id(request), None)
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, _ClientGone):
                await pinger
        return resp

    async def _pinger(self, sse: _Sse) -> None:
        with contextlib.suppress(_ClientGone):
            while True:
                await asyncio.sleep(self.ping_interval)
                await sse.ping()

    async def _pause(self, task: _Task, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task.stopped.wait(), seconds)

    async def _wait_gone(self, request: web.Request) -> None:
        """Return once the client has gone away or the server is stopping."""
        while request.transport is not None and not request.transport.is_closing():
            try:
                await asyncio.wait_for(self._closing.wait(), 0.02)
            except TimeoutError:
                continue
            return

    async def _send_extra(
        self, sse: _Sse, base: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
    ) -> None:
        for event in events:
            if "raw" in event:
                await sse.write_raw(str(event["raw"]).encode())
            elif event.get("event") == "ping" and len(event) == 1:
                await sse.ping()
            else:
                payload = dict(base)
                payload.update(event)
                await sse.send(payload)

    async def _emit_answer(
        self,
        sse: _Sse,
        request: web.Request,
        conv: FakeConversation,
        msg: FakeMessage,
        task: _Task,
        script: ScriptedAnswer,
        pinger: asyncio.Task[None],
    ) -> None:
        started = time.monotonic()
        base = self._base(conv, msg)
        delay = self.chunk_delay if script.delay is None else script.delay
        chatflow = self.mode == "advanced-chat"
        agent = self.mode == "agent-chat"
        run = _WorkflowRun(conv, msg) if chatflow else None

        if run is not None:
            await sse.send(run.started(base))
            await sse.send(run.node_started(base, "start", "Start", 1))
            await sse.send(run.node_finished(base, "start", "Start", 1, {"sys.query": msg.query}))
            await sse.send(run.node_started(base, "llm", "LLM", 2))
        await self._send_extra(sse, base, script.events)

        thoughts: list[dict[str, Any]] = []
        if agent:
            given = script.agent_thoughts or [{}]
            for position, thought in enumerate(given, start=1):
                payload = {
                    "event": "agent_thought",
                    "id": str(uuid.uuid4()),
                    **base,
                    "position": position,
                    "thought": "",
                    "observation": "",
                    "tool": "",
                    "tool_labels": {},
                    "tool_input": "",
                    "message_files": [],
                }
                payload.update(thought)
                thoughts.append(payload)
                await sse.send(payload)
                await self._pause(task, delay)
            msg.agent_thoughts = thoughts

        kind = "agent_message" if agent else "message"
        stopped = False
        for sent, chunk in enumerate(script.chunks):
            if script.stall_after is not None and sent >= script.stall_after:
                pinger.cancel()
                await self._wait_gone(request)
                raise _ClientGone
            if script.error_after is not None and sent >= script.error_after:
                await self._send_error(sse, base, msg, script)
                return
            if script.reset_after is not None and sent >= script.reset_after:
                self._reset(request, msg)
            if script.end_after is not None and sent >= script.end_after:
                msg.status = "error"
                return
            if task.stopped.is_set():
                stopped = True
                break
            payload = {"event": kind, "id": msg.id, **base, "answer": chunk}
            if chatflow:
                payload["from_variable_selector"] = ["llm", "text"]
            await sse.send(payload)
            msg.answer += chunk
            if sent + 1 < len(script.chunks):
                await self._pause(task, delay)
        else:
            total = len(script.chunks)
            if script.stall_after is not None and total >= script.stall_after:
                pinger.cancel()
                await self._wait_gone(request)
                raise _ClientGone
            if script.error_after is not None and total >= script.error_after:
                await self._send_error(sse, base, msg, script)
                return
            if script.reset_after is not None and total >= script.reset_after:
                self._reset(request, msg)
            if script.end_after is not None and total >= script.end_after:
                msg.status = "error"
                return
        if stopped:
            msg.status = "stopped"

        await self._send_extra(sse, base, script.events_after)
        if agent and not stopped:
            final = dict(thoughts[-1])
            final["thought"] = msg.answer
            thoughts[-1] = final
            await sse.send(final)

        files = [self._file_event(conv, msg, i, f) for i, f in enumerate(script.files)]
        for event in files:
            await sse.send(event)
        envelope = {"event", "task_id", "message_id", "conversation_id", "created_at"}
        msg.files = [{k: v for k, v in f.items() if k not in envelope} for f in files]
        if script.replace_with is not None and not stopped:
            msg.answer = script.replace_with
            await sse.send({"event": "message_replace", **base, "answer": script.replace_with})

        if run is not None:
            outputs = {"text": msg.answer}
            await sse.send(run.node_finished(base, "llm", "LLM", 2, outputs))
            if script.human_input is not None and not stopped:
                await sse.send(run.node_started(base, "human-input", "Human Input", 3))
                form = run.human_input_form(msg, script.human_input)
                await sse.send(run.event(base, "human_input_required", form))
                await sse.send(run.paused(base, form))
                return  # the workflow waits: no message_end, no workflow_finished
            if script.workflow_error is not None and not stopped:
                msg.status = "error"
                await sse.send(run.node_started(base, "answer", "Answer", 3))
                await sse.send(
                    run.node_finished(base, "answer", "Answer", 3, {}, error=script.workflow_error)
                )
                await sse.send(run.finished(base, msg.answer, script.workflow_error))
                await sse.send(
                    {
                        "event": "error",
                        **base,
                        "status": 400,
                        "code": "invalid_param",
                        "message": f"Run failed: {script.workflow_error}",
                    }
                )
                return
            await sse.send(run.node_started(base, "answer", "Answer", 3))
            await sse.send(run.node_finished(base, "answer", "Answer", 3, {"answer": msg.answer}))
            if script.workflow_finished_first:
                await sse.send(run.finished(base, msg.answer, None))

        if script.tts:
            for piece in (self.speech[i : i + 48] for i in range(0, len(self.speech), 48)):
                audio = base64.b64encode(piece).decode()
                await sse.send({"event": "tts_message", **base, "audio": audio})

        citations = [_citation(i, c) for i, c in enumerate(script.citations)]
        msg.retriever_resources = citations
        end: dict[str, Any] = {
            "event": "message_end",
            "id": msg.id,
            **base,
            "metadata": {
                "usage": _usage(msg.query, msg.answer, time.monotonic() - started),
                "retriever_resources": citations,
            },
        }
        if msg.files:
            end["files"] = msg.files
        await sse.send(end)
        if run is not None and not script.workflow_finished_first:
            await sse.send(run.finished(base, msg.answer, None))
        if script.tts:
            await sse.send({"event": "tts_message_end", **base, "audio": ""})

    def _file_event(
        self, conv: FakeConversation, msg: FakeMessage, index: int, given: Mapping[str, Any]
    ) -> dict[str, Any]:
        file_id = str(given.get("id") or uuid.uuid4())
        event: dict[str, Any] = {
            "event": "message_file",
            **self._base(conv, msg),
            "id": file_id,
            "type": "image",
            "belongs_to": "assistant",
            "url": f"{self.url.removesuffix('/v1')}/files/tools/{file_id}.png",
        }
        event.update(given)
        return event

    async def _send_error(
        self, sse: _Sse, base: Mapping[str, Any], msg: FakeMessage, script: ScriptedAnswer
    ) -> None:
        msg.status = "error"
        await sse.send(
            {
                "event": "error",
                **base,
                "status": script.error_status,
                "code": script.error_code,
                "message": script.error_message,
            }
        )

    @staticmethod
    def _reset(request: web.Request, msg: FakeMessage) -> None:
        msg.status = "error"
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise _ClientGone

    async def _blocking(
        self,
        request: web.Request,
        conv: FakeConversation,
        msg: FakeMessage,
        task: _Task,
        script: ScriptedAnswer,
    ) -> web.StreamResponse:
        started = time.monotonic()
        delay = self.chunk_delay if script.delay is None else script.delay
        for sent, chunk in enumerate(script.chunks):
            if script.stall_after is not None and sent >= script.stall_after:
                await self._wait_gone(request)
                msg.status = "error"
                return web.Response(status=204)
            if script.error_after is not None and sent >= script.error_after:
                msg.status = "error"
                raise _ApiError(script.error_status, script.error_code, script.error_message)
            if script.reset_after is not None and sent >= script.reset_after:
                with contextlib.suppress(_ClientGone):
                    self._reset(request, msg)
                return web.Response(status=204)
            if task.stopped.is_set():
                msg.status = "stopped"
                break
            msg.answer += chunk
            await self._pause(task, delay)
        if script.error_after is not None and script.error_after >= len(script.chunks):
            msg.status = "error"
            raise _ApiError(script.error_status, script.error_code, script.error_message)
        if self.mode == "advanced-chat" and script.workflow_error is not None:
            msg.status = "error"
            raise _ApiError(400, "invalid_param", f"Run failed: {script.workflow_error}")
        if script.replace_with is not None:
            msg.answer = script.replace_with
        citations = [_citation(i, c) for i, c in enumerate(script.citations)]
        msg.retriever_resources = citations
        body = {
            "event": "message",
            "task_id": msg.task_id,
            "id": msg.id,
            "message_id": msg.id,
            "conversation_id": conv.id,
            "mode": "advanced-chat" if self.mode == "advanced-chat" else "chat",
            "answer": msg.answer,
            "metadata": {
                "usage": _usage(msg.query, msg.answer, time.monotonic() - started),
                "retriever_resources": citations,
            },
            "created_at": msg.created_at,
        }
        return web.json_response(body)

    # ------------------------------------------------------------------ other endpoints

    async def _stop_task(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        user = self._require_user(body.get("user"))
        task_id = request.match_info["task_id"]
        self.stops.append((task_id, user))
        task = self._tasks.get(task_id)
        if task is not None and task.user == user:
            task.stopped.set()
        return web.json_response({"result": "success"})

    async def _feedback(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        user = self._require_user(body.get("user"))
        rating = body.get("rating")
        if rating not in ("like", "dislike", None):
            raise _ApiError(400, "invalid_param", "rating must be like, dislike or null")
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            raise _ApiError(400, "invalid_param", "content must be a string")
        msg = self._message_for(request.match_info["message_id"], self._key(request), user)
        if rating is None and msg.rating is None:
            raise _ApiError(400, "invalid_param", "rating cannot be None when feedback not exists")
        msg.rating = rating
        msg.feedback_content = content if rating is not None else None
        return web.json_response({"result": "success"})

    async def _suggested(self, request: web.Request) -> web.StreamResponse:
        user = self._require_user(request.query.get("user"))
        msg = self._message_for(request.match_info["message_id"], self._key(request), user)
        del msg
        enabled = (self.parameters.get("suggested_questions_after_answer") or {}).get("enabled")
        if not enabled:
            raise _ApiError(400, "bad_request", "Suggested Questions Is Disabled.")
        return web.json_response({"result": "success", "data": list(self.suggested_questions)})

    def _message_json(self, msg: FakeMessage) -> dict[str, Any]:
        feedback = {"rating": msg.rating} if msg.rating is not None else None
        return {
            "id": msg.id,
            "conversation_id": msg.conversation_id,
            "parent_message_id": None,
            "inputs": msg.inputs,
            "query": msg.query,
            "answer": msg.answer,
            "message_files": msg.files,
            "feedback": feedback,
            "retriever_resources": msg.retriever_resources,
            "agent_thoughts": msg.agent_thoughts,
            "created_at": msg.created_at,
            "status": "normal" if msg.status == "normal" else "error",
            "error": None if msg.status == "normal" else msg.status,
        }

    @staticmethod
    def _limit(raw: str | None) -> int:
        if raw is None or raw == "":
            return 20
        try:
            limit = int(raw)
        except ValueError as exc:
            raise _ApiError(400, "invalid_param", "limit must be an integer") from exc
        if not 1 <= limit <= 100:
            raise _ApiError(400, "invalid_param", "limit must be between 1 and 100")
        return limit

    async def _list_messages(self, request: web.Request) -> web.StreamResponse:
        user = self._require_user(request.query.get("user"))
        conversation_id = request.query.get("conversation_id", "")
        if not conversation_id:
            raise _ApiError(400, "invalid_param", "conversation_id is required")
        if not _is_uuid(conversation_id):
            raise _ApiError(400, "invalid_param", "conversation_id must be a valid UUID")
        conv = self._conversation_for(conversation_id, self._key(request), user)
        limit = self._limit(request.query.get("limit"))
        history = list(conv.messages)
        first_id = request.query.get("first_id")
        if first_id:
            ids = [m.id for m in history]
            if first_id not in ids:
                raise _ApiError(404, "not_found", "First Message Not Exists.")
            history = history[: ids.index(first_id)]
        page = history[-limit:]
        return web.json_response(
            {
                "limit": limit,
                "has_more": len(history) > limit,
                "data": [self._message_json(m) for m in page],
            }
        )

    async def _list_conversations(self, request: web.Request) -> web.StreamResponse:
        user = self._require_user(request.query.get("user"))
        key = self._key(request)
        limit = self._limit(request.query.get("limit"))
        sort_by = request.query.get("sort_by", "-updated_at")
        field_name = sort_by.lstrip("-")
        if field_name not in ("created_at", "updated_at"):
            raise _ApiError(400, "invalid_param", "sort_by is invalid")
        convs = [c for c in self.conversations.values() if c.api_key == key and c.user == user]
        convs.sort(key=lambda c: getattr(c, field_name), reverse=sort_by.startswith("-"))
        last_id = request.query.get("last_id")
        if last_id:
            ids = [c.id for c in convs]
            if last_id not in ids:
                raise _ApiError(404, "not_found", "Last Conversation Not Exists.")
            convs = convs[ids.index(last_id) + 1 :]
        page = convs[:limit]
        return web.json_response(
            {
                "limit": limit,
                "has_more": len(convs) > limit,
                "data": [self._conversation_json(c) for c in page],
            }
        )

    @staticmethod
    def _conversation_json(conv: FakeConversation) -> dict[str, Any]:
        return {
            "id": conv.id,
            "name": conv.name,
            "inputs": conv.inputs,
            "status": "normal",
            "introduction": "",
            "created_at": conv.created_at,
            "updated_at": conv.updated_at,
        }

    async def _delete_conversation(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        user = self._require_user(body.get("user"))
        conversation_id = request.match_info["conversation_id"]
        if not _is_uuid(conversation_id):
            raise _ApiError(400, "invalid_param", "conversation_id must be a valid UUID")
        self._conversation_for(conversation_id, self._key(request), user)
        self.delete_conversation(conversation_id)
        return web.json_response({"result": "success"})

    async def _rename(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        user = self._require_user(body.get("user"))
        conv = self._conversation_for(
            request.match_info["conversation_id"], self._key(request), user
        )
        if body.get("auto_generate"):
            first = conv.messages[0].query if conv.messages else "New conversation"
            conv.name = " ".join(first.split())[:40]
        else:
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise _ApiError(400, "invalid_param", "name is required")
            conv.name = name.strip()
        conv.updated_at = _now()
        return web.json_response(self._conversation_json(conv))

    async def _parameters(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(copy.deepcopy(self.parameters))

    async def _info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(copy.deepcopy(self.info))

    async def _meta(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(copy.deepcopy(self.meta))

    async def _read_form(self, request: web.Request) -> tuple[str | None, bytes, str, str]:
        """Return ``(user, file bytes, file name, content type)`` of a multipart upload."""
        if not request.content_type.startswith("multipart/"):
            raise _ApiError(400, "no_file_uploaded", "Please upload your file.")
        reader = await request.multipart()
        user: str | None = None
        data = b""
        name = ""
        content_type = ""
        files = 0
        async for part in _parts(reader):
            if part.name == "user":
                user = (await part.read()).decode("utf-8", "replace")
            elif part.name == "file":
                files += 1
                data = bytes(await part.read())
                name = part.filename or "file"
                content_type = part.headers.get("Content-Type", "application/octet-stream")
            else:
                await part.read()
        if files == 0:
            raise _ApiError(400, "no_file_uploaded", "Please upload your file.")
        if files > 1:
            raise _ApiError(400, "too_many_files", "Only one file is allowed.")
        return user, data, name, content_type

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        user, data, name, content_type = await self._read_form(request)
        user = self._require_user(user)
        limit_mb = int((self.parameters.get("system_parameters") or {}).get("file_size_limit", 15))
        if len(data) > limit_mb * 1024 * 1024:
            raise _ApiError(413, "file_too_large", f"File size exceeded. {limit_mb} MB")
        extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
        record = FakeFile(
            id=str(uuid.uuid4()),
            name=name,
            size=len(data),
            extension=extension,
            mime_type=content_type,
            user=user,
            api_key=self._key(request),
            content=data,
        )
        self.files[record.id] = record
        return web.json_response(
            {
                "id": record.id,
                "name": record.name,
                "size": record.size,
                "extension": record.extension,
                "mime_type": record.mime_type,
                "created_by": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{record.api_key}:{user}")),
                "created_at": record.created_at,
            },
            status=201,
        )

    async def _audio_to_text(self, request: web.Request) -> web.StreamResponse:
        if not request.content_type.startswith("multipart/"):
            raise _ApiError(400, "no_audio_uploaded", "Please upload your audio.")
        try:
            user, data, name, content_type = await self._read_form(request)
        except _ApiError as exc:
            if exc.code == "no_file_uploaded":
                raise _ApiError(400, "no_audio_uploaded", "Please upload your audio.") from exc
            raise
        user = self._require_user(user)
        self.transcriptions.append(
            FakeFile(
                id=str(uuid.uuid4()),
                name=name,
                size=len(data),
                extension=name.rsplit(".", 1)[1].lower() if "." in name else "",
                mime_type=content_type,
                user=user,
                api_key=self._key(request),
                content=data,
            )
        )
        if not (self.parameters.get("speech_to_text") or {}).get("enabled"):
            raise _ApiError(400, "invalid_param", "Speech to text is not enabled")
        extension = name.rsplit(".", 1)[1].lower() if "." in name else ""
        subtype = content_type.partition("/")[2].split(";")[0].strip().lower()
        if extension not in AUDIO_EXTENSIONS and subtype not in AUDIO_EXTENSIONS:
            raise _ApiError(415, "unsupported_audio_type", "Audio type not allowed.")
        if not data:
            raise _ApiError(400, "no_audio_uploaded", "Please upload your audio.")
        if len(data) > AUDIO_MAX_BYTES:
            raise _ApiError(413, "audio_too_large", "Audio size exceeded. 15 MB")
        return web.json_response({"text": self.transcript})

    async def _text_to_audio(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        self.tts_requests.append(body)
        user = self._require_user(body.get("user"))
        if not (self.parameters.get("text_to_speech") or {}).get("enabled"):
            raise _ApiError(400, "invalid_param", "TTS is not enabled")
        message_id = body.get("message_id")
        if message_id:
            self._message_for(str(message_id), self._key(request), user)
        elif not isinstance(body.get("text"), str) or not body["text"].strip():
            raise _ApiError(400, "invalid_param", "Text is required")
        return web.Response(body=self.speech, content_type="audio/mpeg")


async def _parts(reader: Any) -> AsyncIterator[Any]:
    while True:
        part = await reader.next()
        if part is None:
            return
        yield part


class _WorkflowRun:
    """Builds the workflow/node events of one chatflow run."""

    def __init__(self, conv: FakeConversation, msg: FakeMessage) -> None:
        self.id = str(uuid.uuid4())
        self.workflow_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"workflow-{conv.api_key}"))
        self.conv = conv
        self.msg = msg
        self.started_at = time.monotonic()
        self.nodes: dict[str, str] = {}

    def event(self, base: Mapping[str, Any], event: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "event": event,
            "task_id": base["task_id"],
            "workflow_run_id": self.id,
            "message_id": base["message_id"],
            "conversation_id": base["conversation_id"],
            "created_at": base["created_at"],
            "data": data,
        }

    def started(self, base: Mapping[str, Any]) -> dict[str, Any]:
        return self.event(
            base,
            "workflow_started",
            {
                "id": self.id,
                "workflow_id": self.workflow_id,
                "sequence_number": len(self.conv.messages),
                "inputs": {"sys.query": self.msg.query, **self.msg.inputs},
                "created_at": _now(),
            },
        )

    def node_started(
        self, base: Mapping[str, Any], node_type: str, title: str, index: int
    ) -> dict[str, Any]:
        execution = self.nodes.setdefault(node_type, str(uuid.uuid4()))
        return self.event(
            base,
            "node_started",
            {
                "id": execution,
                "node_id": f"{node_type}-node",
                "node_type": node_type,
                "title": title,
                "index": index,
                "predecessor_node_id": None,
                "inputs": None,
                "created_at": _now(),
                "extras": {},
            },
        )

    def node_finished(
        self,
        base: Mapping[str, Any],
        node_type: str,
        title: str,
        index: int,
        outputs: dict[str, Any],
        *,
        error: str | None = None,
    ) -> dict[str, Any]:
        execution = self.nodes.setdefault(node_type, str(uuid.uuid4()))
        return self.event(
            base,
            "node_finished",
            {
                "id": execution,
                "node_id": f"{node_type}-node",
                "node_type": node_type,
                "title": title,
                "index": index,
                "predecessor_node_id": None,
                "inputs": None,
                "process_data": None,
                "outputs": outputs if error is None else None,
                "status": "succeeded" if error is None else "failed",
                "error": error,
                "elapsed_time": round(time.monotonic() - self.started_at, 6),
                "execution_metadata": None,
                "created_at": _now(),
                "finished_at": _now(),
                "files": [],
            },
        )

    def human_input_form(self, msg: FakeMessage, given: Mapping[str, Any]) -> dict[str, Any]:
        """``human_input_required.data``: a review form with a comment field, two actions."""
        form: dict[str, Any] = {
            "form_id": str(uuid.uuid4()),
            "node_id": "human-input-node",
            "node_title": "Human Input",
            "form_content": f"Please review the draft answer to: **{msg.query}**",
            "inputs": [
                {
                    "type": "paragraph",
                    "output_variable_name": "comment",
                    "placeholder": "Anything to change?",
                }
            ],
            "actions": [
                {"id": "approve", "title": "Approve", "button_style": "primary"},
                {"id": "reject", "title": "Reject", "button_style": "default"},
            ],
            "display_in_ui": True,
            "form_token": uuid.uuid4().hex,
            "resolved_default_values": {},
            "expiration_time": _now() + 24 * 3600,
        }
        form.update(given)
        return form

    def paused(self, base: Mapping[str, Any], form: Mapping[str, Any]) -> dict[str, Any]:
        node_id = form.get("node_id", "human-input-node")
        return self.event(
            base,
            "workflow_paused",
            {
                "workflow_run_id": self.id,
                "paused_nodes": [node_id],
                "outputs": {},
                "reasons": [
                    {
                        "type": "human_input_required",
                        "form_id": form.get("form_id"),
                        "node_id": node_id,
                    }
                ],
                "status": "paused",
                "created_at": _now(),
                "elapsed_time": round(time.monotonic() - self.started_at, 6),
                "total_tokens": 0,
                "total_steps": 3,
            },
        )

    def finished(self, base: Mapping[str, Any], answer: str, error: str | None) -> dict[str, Any]:
        return self.event(
            base,
            "workflow_finished",
            {
                "id": self.id,
                "workflow_id": self.workflow_id,
                "sequence_number": len(self.conv.messages),
                "status": "succeeded" if error is None else "failed",
                "outputs": {"answer": answer} if error is None else None,
                "error": error,
                "elapsed_time": round(time.monotonic() - self.started_at, 6),
                "total_tokens": 0,
                "total_steps": 4,
                "created_by": {"id": base["conversation_id"], "user": self.msg.user},
                "created_at": _now(),
                "finished_at": _now(),
                "files": [],
            },
        )
