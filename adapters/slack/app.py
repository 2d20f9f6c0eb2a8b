"""Slack: events in through slack-bolt (Socket Mode or HTTP), answers out through sinks.

This module runs the connection: the bolt app, its web client, Socket Mode
or the HTTP server (``POST /slack/events``, ``GET /healthz``). What each
event means is :mod:`dify_bridge.adapters.slack.listeners`; what a request
must be before bolt sees it is :mod:`dify_bridge.adapters.slack.http`
(HTTP) and :mod:`dify_bridge.adapters.slack.socket` (Socket Mode).

Whatever bolt or a listener raises on a request that got through becomes
one log line (no traceback) and a 200 (:mod:`dify_bridge.adapters.slack.boundary`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient

from dify_bridge.config import SlackSettings
from dify_bridge.core import Bridge, LeftAnswer
from dify_bridge.ops.http import add_health_route, server_logger

from .boundary import UnreadableRequest, dispatch, on_bolt_error
from .budgets import WorkspaceBudgets
from .client import SlackCallFailed, call_slack, make_web_client
from .events import BotIdentity
from .http import MAX_BODY_BYTES, Refused, SlackRequestGate, brief_error
from .listeners import SlackListeners
from .socket import ScreeningSocketModeHandler
from .takeover import mark_left_answer

__all__ = ["SlackAdapter", "SlackStartFailed"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class SlackStartFailed(SlackCallFailed):
    """Slack refused the bot's credentials or could not be reached at start."""

    def __init__(self, method: str, error: str, *, setting: str) -> None:
        super().__init__(method, error)
        self.setting = setting

    def __str__(self) -> str:
        return f"{self.setting} was refused: {self.error}"


class SlackAdapter:
    """One Slack workspace's bot, in Socket Mode if an app token is set, else HTTP."""

    name = "slack"

    def __init__(
        self, settings: SlackSettings, bridge: Bridge, *, budgets: WorkspaceBudgets | None = None
    ) -> None:
        self._settings = settings
        self._metrics = bridge.metrics
        self._budgets = budgets or WorkspaceBudgets(settings.edits_per_minute)
        self._budgets.follow(bridge.presence)
        bridge.in_flight.mark_with("slack", self)
        self._client = make_web_client(
            settings.bot_token.value,
            settings.api_url,
            on_rate_limited=self._on_rate_limited,
        )
        self._app = AsyncApp(
            name="dify-bridge",
            client=self._client,
            signing_secret=settings.signing_secret.value,
            request_verification_enabled=True,
            # unmatched requests go to the error handler below (one line, 200), not a 404
            raise_error_for_unhandled_request=True,
        )
        self._app.error(on_bolt_error)
        self._gate = (
            SlackRequestGate(settings.signing_secret.value)
            if settings.signing_secret.value
            else None
        )
        self._bot: BotIdentity | None = None
        self._runner: web.AppRunner | None = None
        self._socket: ScreeningSocketModeHandler | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = False
        SlackListeners(settings, bridge, self._client, self._budgets, self._identity).register(
            self._app
        )

    @property
    def port(self) -> int:
        """The port the HTTP server is bound to (0 in Socket Mode or before start)."""
        if self._runner is None or not self._runner.addresses:
            return 0
        return int(self._runner.addresses[0][1])

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def healthy(self) -> bool:
        """Ready, and in Socket Mode with the websocket up (slack-sdk reconnects it)."""
        return self._ready and (self._socket is None or _socket_up(self._socket.client))

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._client.session = self._session
        try:
            if self._settings.socket_mode:
                self._bot = await self._identify()
                await self._connect_socket()
            else:
                await self._serve_http()
                self._bot = await self._identify()
        except BaseException:
            await self.stop()
            raise
        self._ready = True
        mode = "Socket Mode" if self._settings.socket_mode else f"HTTP on port {self.port}"
        log.info("Slack bot %s of team %s is up (%s)", self._bot.user_id, self._bot.team_id, mode)

    async def stop(self) -> None:
        """Stop taking events. Answers in progress keep their client (see Bridge.shutdown)."""
        self._ready = False
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()  # type: ignore[no-untyped-call]
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _identify(self) -> BotIdentity:
        try:
            data = await call_slack("auth.test", self._client.auth_test())
        except SlackCallFailed as exc:
            raise SlackStartFailed(exc.method, exc.error, setting="SLACK_BOT_TOKEN") from None
        return BotIdentity(
            team_id=str(data.get("team_id") or ""),
            user_id=str(data.get("user_id") or ""),
            bot_id=str(data.get("bot_id") or ""),
            workspace_url=str(data.get("url") or ""),
        )

    async def _connect_socket(self) -> None:
        handler = ScreeningSocketModeHandler(
            self._app, app_token=self._settings.app_token.value, web_client=self._client
        )
        self._socket = handler
        # asked here once so a bad app token fails the start (the client would retry forever)
        try:
            opened = await call_slack(
                "apps.connections.open",
                self._client.apps_connections_open(app_token=self._settings.app_token.value),
            )
        except SlackCallFailed as exc:
            raise SlackStartFailed(exc.method, exc.error, setting="SLACK_APP_TOKEN") from None
        handler.client.wss_uri = str(opened.get("url") or "") or None
        await handler.connect_async()  # type: ignore[no-untyped-call]

    async def _serve_http(self) -> None:
        # aiohttp refuses a body over client_max_size while reading it (413)
        app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
        app.router.add_post(EVENTS_PATH, self._handle_events)
        add_health_route(app, lambda: self._ready)  # /metrics only on METRICS_PORT
        self._runner = web.AppRunner(app, access_log=None, logger=server_logger())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port)
        await site.start()

    async def _handle_events(self, request: web.Request) -> web.Response:
        """Events, interactivity and slash commands: checked, then handed to bolt."""
        try:
            text = await self._admit(request)
        except Refused as refused:
            log.log(
                refused.level,
                "Slack request from %s refused with %s: %s",
                request.remote,
                refused.status,
                refused.reason,
            )
            return web.json_response({"error": refused.reason}, status=refused.status)
        if text is None:
            return web.Response(status=200)  # Slack's ssl_check
        headers: dict[str, str | Sequence[str]] = dict(request.headers)
        try:
            response = await dispatch(self._app, text, headers, query=request.query_string)
        except UnreadableRequest as exc:
            log.warning("Slack request from %s not handled (%s); answered 200", request.remote, exc)
            return web.Response(status=200)
        return await to_aiohttp_response(response)

    async def _admit(self, request: web.Request) -> str | None:
        """The verified body of ``request`` (None: an ssl_check), else :class:`Refused`."""
        if self._gate is None:
            raise Refused(401, "no SLACK_SIGNING_SECRET: HTTP requests cannot be verified")
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise Refused(413, f"body of {length} bytes is over {MAX_BODY_BYTES}")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Refused(413, f"body is over {MAX_BODY_BYTES} bytes") from None
        except (aiohttp.ClientPayloadError, HttpProcessingError, ConnectionError) as exc:
            raise Refused(400, f"body could not be read ({brief_error(exc)})") from None
        return self._gate.admit(raw, request.headers)

    async def mark_interrupted(self, answer: LeftAnswer, notice: str) -> None:
        """An answer a replica that died left in flight: ended with ``notice``."""
        await mark_left_answer(self._client, self._budgets, answer, notice)

    def _on_rate_limited(self, method: str, retry_after: float) -> None:
        self._metrics.rate_limited.labels("slack").inc()
        self._budgets.on_rate_limited(method, retry_after)

    async def _identity(self) -> BotIdentity:
        if self._bot is None:
            self._bot = await self._identify()
        return self._bot


def _socket_up(client: SocketModeClient) -> bool:
    session = client.current_session
    return not client.closed and session is not None and not session.closed
