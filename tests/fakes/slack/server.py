"""The fake Slack's server: one aiohttp app for the Web API, Socket Mode and files."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.slack.events import Events
from tests.fakes.slack.files import Files
from tests.fakes.slack.oauth import OAuth
from tests.fakes.slack.socket_mode import SocketMode
from tests.fakes.slack.web_api import WebApi
from tests.fakes.slack_ai import FakeSlackAI


class FakeSlack(WebApi, Files, SocketMode, Events, OAuth, FakeSlackAI):
    """A workspace with one bot user (more install through OAuth), served on 127.0.0.1."""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle_api)
        app.router.add_get("/api/{method}", self._handle_api)
        app.router.add_get("/socket-mode/{connection}", self._handle_socket)
        app.router.add_get("/files-pri/{file_id}/{name}", self._handle_download)
        app.router.add_put("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
