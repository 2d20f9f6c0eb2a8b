"""The fake Dify's server: lifecycle, routes, bearer-key auth, Dify's JSON errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.fakes.dify.apps import AppSettings
from tests.fakes.dify.chat import Chat
from tests.fakes.dify.conversations import Conversations
from tests.fakes.dify.files import FilesAndAudio
from tests.fakes.dify.records import RecordedRequest
from tests.fakes.dify.wire import ApiError, Handler


class FakeDify(Chat, Conversations, FilesAndAudio, AppSettings):
    """A Dify Service API for one or more app keys, served on ``host:port``.

    ``mode`` is the app type: ``chat``, ``advanced-chat`` (chatflow),
    ``agent-chat``, or the non-chat ``completion`` / ``workflow`` (which
    ``/chat-messages`` rejects like Dify does). ``chunk_delay`` is the pause
    between streamed chunks; ``ping_interval`` the keep-alive period.
    """

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
        except ApiError as exc:
            return exc.response()
        except web.HTTPException as exc:
            if exc.status == 404:
                msg = (
                    "The requested URL was not found on the server. If you entered the URL "
                    "manually please check your spelling and try again."
                )
                return ApiError(404, "not_found", msg).response()
            if exc.status == 405:
                msg = "The method is not allowed for the requested URL."
                return ApiError(405, "method_not_allowed", msg).response()
            raise

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != "bearer":
            raise ApiError(
                401,
                "unauthorized",
                "Authorization header must be provided and start with 'Bearer'",
            )
        if token.strip() not in self.api_keys:
            raise ApiError(401, "unauthorized", "Access token is invalid")
        return token.strip()
