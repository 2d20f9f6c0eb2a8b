"""The offline demo's Dify: a small chat app on a local port, in real HTTP and SSE.

:class:`FakeDify` serves what the offline demo (``dify-bridge run`` with nothing
configured, ``dify-bridge demo``) uses: ``GET /info`` and ``/parameters``, ``POST
/chat-messages`` streamed as ``data: {json}`` events in conversations owned by
``(app key, user)`` (an unknown one is a 404: the console's ``/forget`` shows the
recovery), stop, feedback and ``DELETE /conversations/{id}``, with Dify's JSON
errors. Its answers show that the conversation is remembered. (The tests have a
complete fake of the Service API, in ``tests/fakes/dify``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from asyncio import Event
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeDify", "demo_answer", "split_chunks"]

OFF = {"enabled": False}
#: An app with no input form and every optional feature off (no suggestions, voice or files).
PARAMETERS: dict[str, Any] = {
    "opening_statement": "",
    "suggested_questions": [],
    "user_input_form": [],
    "system_parameters": {"file_size_limit": 15, "image_file_size_limit": 10},
    **{k: OFF for k in ("suggested_questions_after_answer", "retriever_resource")},
    **{k: OFF for k in ("speech_to_text", "text_to_speech", "file_upload")},
}
INFO: dict[str, Any] = {
    "name": "Demo Assistant",
    "description": "A local stand-in for a Dify chat app.",
    "tags": [],
    "mode": "chat",
    "author_name": "dify-bridge",
}
_ROUTING_ERRORS = {
    404: ("not_found", "The requested URL was not found on the server."),
    405: ("method_not_allowed", "The method is not allowed for the requested URL."),
}
_CHUNK_RE = re.compile(r"\s*\S{1,6}|\s+$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def split_chunks(text: str) -> list[str]:
    """Split ``text`` into small word-ish pieces that join back to exactly ``text``."""
    return _CHUNK_RE.findall(text)


def _short(text: str, limit: int) -> str:
    said = " ".join(text.split())
    return said if len(said) <= limit else said[: limit - 3] + "..."


def demo_answer(queries: list[str]) -> str:
    """The answer to the last of ``queries``, the questions of one conversation so far."""
    said, turn = _short(queries[-1], 300), len(queries)
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
    return (
        f"This is turn **{turn}** of our conversation. You said: **{said}**\n\n"
        f"Earlier you asked: _{_short(queries[-2], 200)}_\n\n"
        "What I remember of this thread:\n\n"
        f"- **{turn}** questions so far, counting this one\n"
        f"- the first one was: _{_short(queries[0], 200)}_\n\n"
        "Keep going, or start a new thread for a fresh conversation."
    )


@dataclass
class _Conversation:
    id: str
    api_key: str
    user: str
    queries: list[str] = field(default_factory=list)


@dataclass
class _Message:
    conversation_id: str
    user: str
    rating: str | None = None


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        body = {"code": self.code, "message": self.message, "status": self.status}
        return web.json_response(body, status=self.status)


def _key(request: web.Request) -> str:
    return request.headers.get("Authorization", "").partition(" ")[2].strip()


def _uuid(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise _ApiError(400, "invalid_param", "conversation_id must be a valid UUID") from None


class FakeDify:
    """A Dify chat app for the keys ``api_keys``, served on ``host:port``.

    ``chunk_delay`` is the pause between streamed chunks.
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("app-demo",),
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_delay: float = 0.0,
    ) -> None:
        self.api_keys = set(api_keys)
        self.host, self.port = host, port
        self.chunk_delay = chunk_delay
        self.url = ""
        self.conversations: dict[str, _Conversation] = {}
        self.messages: dict[str, _Message] = {}
        self._stops: dict[str, Event] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Start serving; returns the API base URL (``http://host:port/v1``)."""
        if self._runner is not None:
            return self.url
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v1/info", self._settings)
        app.router.add_get("/v1/parameters", self._settings)
        app.router.add_post("/v1/chat-messages", self._chat)
        app.router.add_post("/v1/chat-messages/{task_id}/stop", self._stop_task)
        app.router.add_post("/v1/messages/{message_id}/feedbacks", self._feedback)
        app.router.add_delete("/v1/conversations/{conversation_id}", self._delete)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self.url = f"http://{self.host}:{self.port}/v1"
        return self.url

    async def stop(self) -> None:
        """Stop serving; answers still streaming end where they are."""
        runner, self._runner = self._runner, None
        for stopped in self._stops.values():
            stopped.set()
        if runner is not None:
            await runner.cleanup()

    @staticmethod
    async def _settings(request: web.Request) -> web.Response:
        return web.json_response(INFO if request.path == "/v1/info" else PARAMETERS)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                must = "Authorization header must be provided and start with 'Bearer'"
                raise _ApiError(401, "unauthorized", must)
            if token.strip() not in self.api_keys:
                raise _ApiError(401, "unauthorized", "Access token is invalid")
            return await handler(request)
        except _ApiError as exc:
            return exc.response()
        except web.HTTPException as exc:
            if exc.status not in _ROUTING_ERRORS:
                raise
            code, message = _ROUTING_ERRORS[exc.status]
            return _ApiError(exc.status, code, message).response()

    @staticmethod
    async def _body(request: web.Request) -> tuple[dict[str, Any], str]:
        """The JSON object of a request and its ``user``; Dify's 400s when either is wrong."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _ApiError(400, "invalid_param", "Request body must be a JSON object")
        user = body.get("user")
        if not isinstance(user, str) or not user:
            raise _ApiError(400, "invalid_param", "user is required")
        return body, user

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, user = await self._body(request)
        query, key = body.get("query"), _key(request)
        if not isinstance(query, str) or not query:
            raise _ApiError(400, "invalid_param", "query is required")
        if not isinstance(body.get("inputs"), dict):
            raise _ApiError(400, "invalid_param", "inputs is required and must be an object")
        if body.get("response_mode") != "streaming":
            raise _ApiError(400, "invalid_param", "the demo app answers in streaming mode only")
        if body.get("conversation_id"):
            conv = self.conversations.get(_uuid(body["conversation_id"]))
            if conv is None or conv.api_key != key or conv.user != user:
                raise _ApiError(404, "not_found", "Conversation Not Exists.")
        else:
            conv = _Conversation(str(uuid.uuid4()), key, user)
            self.conversations[conv.id] = conv
        conv.queries.append(query)
        message_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.messages[message_id] = _Message(conv.id, user)
        base = {
            "task_id": task_id,
            "message_id": message_id,
            "conversation_id": conv.id,
            "created_at": int(time.time()),
        }
        stopped = self._stops[task_id] = Event()
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        resp = web.StreamResponse(headers=headers)
        resp.content_type, resp.charset = "text/event-stream", "utf-8"
        try:
            await resp.prepare(request)
            await self._answer(resp, base, list(conv.queries), stopped)
        except (ConnectionError, RuntimeError):
            pass  # the client went away; so does the answer
        finally:
            self._stops.pop(task_id, None)
        return resp

    async def _answer(
        self, resp: web.StreamResponse, base: dict[str, Any], queries: list[str], stop: Event
    ) -> None:
        started, answer = time.monotonic(), demo_answer(queries)
        chunks = split_chunks(answer)

        async def send(payload: Mapping[str, Any]) -> None:
            await resp.write(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

        for number, chunk in enumerate(chunks):
            if stop.is_set():
                break
            await send({"event": "message", "id": base["message_id"], **base, "answer": chunk})
            if number + 1 < len(chunks):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.chunk_delay)
        prompt, completion = 40 + len(queries[-1].split()) * 2, len(answer.split()) * 4 // 3
        usage: dict[str, float] = {"prompt_tokens": prompt, "completion_tokens": completion}
        usage["total_tokens"] = prompt + completion
        usage["latency"] = round(time.monotonic() - started, 6)
        metadata = {"usage": usage, "retriever_resources": []}
        await send({"event": "message_end", "id": base["message_id"], **base, "metadata": metadata})

    async def _stop_task(self, request: web.Request) -> web.Response:
        await self._body(request)
        stopped = self._stops.get(request.match_info["task_id"])
        if stopped is not None:
            stopped.set()
        return web.json_response({"result": "success"})

    async def _feedback(self, request: web.Request) -> web.Response:
        body, user = await self._body(request)
        msg = self.messages.get(request.match_info["message_id"])
        conv = self.conversations.get(msg.conversation_id) if msg is not None else None
        if msg is None or conv is None or conv.api_key != _key(request) or msg.user != user:
            raise _ApiError(404, "not_found", "Message Not Exists.")
        rating = body.get("rating")
        if rating not in ("like", "dislike", None):
            raise _ApiError(400, "invalid_param", "rating must be like, dislike or null")
        if rating is None and msg.rating is None:
            raise _ApiError(400, "invalid_param", "rating cannot be None when feedback not exists")
        msg.rating = rating
        return web.json_response({"result": "success"})

    async def _delete(self, request: web.Request) -> web.Response:
        _, user = await self._body(request)
        conversation_id = _uuid(request.match_info["conversation_id"])
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.api_key != _key(request) or conv.user != user:
            raise _ApiError(404, "not_found", "Conversation Not Exists.")
        del self.conversations[conversation_id]
        self.messages = {k: m for k, m in self.messages.items() if m.conversation_id != conv.id}
        return web.json_response({"result": "success"})
