"""Slack: events in through slack-bolt (Socket Mode or HTTP), answers out through sinks.

This module runs the connection: the bolt app, its web client, Socket Mode
or the HTTP server (``POST /slack/events``, ``GET /healthz``, and with OAuth
``GET /slack/install`` and ``GET /slack/oauth_redirect``, :mod:`.oauth`). What each
event means is :mod:`dify_bridge.adapters.slack.listeners`; what a request
must be before bolt sees it is :mod:`dify_bridge.adapters.slack.http`
(HTTP) and :mod:`dify_bridge.adapters.slack.socket` (Socket Mode).

Whatever bolt or a listener raises on a request that got through becomes
one log line (no traceback) and a 200, or a 503 when the store could not say
whose workspace it is (:mod:`dify_bridge.adapters.slack.boundary`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Sequence

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt import BoltResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.config import SlackSettings
from dify_bridge.core import Bridge, BridgeError, LeftAnswer, ThreadKey
from dify_bridge.ops.http import add_health_route, server_logger

from .boundary import UnreadableRequest, dispatch, on_bolt_error
from .budgets import WorkspaceBudgets
from .client import SlackCallFailed, call_slack, make_web_client
from .events import BotIdentity
from .http import MAX_BODY_BYTES, Refused, SlackRequestGate, brief_error
from .listeners import SlackListeners
from .oauth import INSTALL_PATH, REDIRECT_PATH, oauth_flow, register_uninstall_listeners
from .socket import ScreeningSocketModeHandler
from .takeover import mark_left_answer
from .workspaces import SlackWorkspaces

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
    """One workspace's bot (Socket Mode if an app token is set, else HTTP), or with
    OAuth the bot of every workspace that installed it (HTTP)."""

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
            settings.bot_token.value or None,  # with OAuth, each workspace's client has its own
            settings.api_url,
            on_rate_limited=functools.partial(self._on_rate_limited, None),
        )
        self._workspaces = SlackWorkspaces(self._client, self._team_client, oauth=settings.oauth)
        self._flow = None
        if settings.oauth:
            flow_client = make_web_client(None, settings.api_url)  # oauth.v2.access: no token
            self._flow = oauth_flow(
                settings, bridge.slack_installations(), self._workspaces, flow_client
            )
        self._app = AsyncApp(
            name="dify-bridge",
            client=self._client,
            signing_secret=settings.signing_secret.value,
            request_verification_enabled=True,
            oauth_flow=self._flow,
            # unmatched requests go to the error handler below (one line, 200), not a 404
            raise_error_for_unhandled_request=True,
        )
        self._app.error(on_bolt_error)
        self._app.middleware(self._workspaces.remember)
        if self._flow is not None:
            register_uninstall_listeners(self._app, self._flow.installations)
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
        SlackListeners(settings, bridge, self._workspaces, self._budgets).register(self._app)

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
        if self._flow is not None:
            self._flow.client.session = self._session
        try:
            if self._settings.socket_mode:
                self._bot = await self._identify()
                await self._connect_socket()
            else:
                await self._serve_http()
                if not self._settings.oauth:
                    self._bot = await self._identify()
        except BaseException:
            await self.stop()
            raise
        self._ready = True
        if self._bot is None:
            log.info(
                "Slack is up for every workspace that installs it: HTTP on port %s, installs at %s",
                self.port,
                INSTALL_PATH,
            )
            return
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
            return await self._workspaces.identity()
        except SlackCallFailed as exc:
            raise SlackStartFailed(exc.method, exc.error, setting="SLACK_BOT_TOKEN") from None

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
        if self._flow is not None:
            app.router.add_get(INSTALL_PATH, self._handle_install)
            app.router.add_get(REDIRECT_PATH, self._handle_install)
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

    async def _handle_install(self, request: web.Request) -> web.Response:
        """The install page, and Slack's redirect back with a code (bolt's OAuth flow)."""
        assert self._flow is not None
        bolt_request = await to_bolt_request(request)
        try:
            if request.path == INSTALL_PATH:
                response = await self._flow.handle_installation(bolt_request)
            else:
                response = await self._flow.handle_callback(bolt_request)
        # the store is down, or Slack could not be reached (oauth.v2.access): try again
        except (BridgeError, aiohttp.ClientError, TimeoutError) as exc:
            log.error("Slack install at %s failed: %s", request.path, brief_error(exc))
            response = BoltResponse(status=503, body="The install failed; please try again.")
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

    @property
    def can_mark(self) -> bool:
        """Slack's Web API needs no connection of this process's own."""
        return True

    async def mark_interrupted(self, answer: LeftAnswer, notice: str) -> None:
        """An answer a replica that died left in flight: ended with ``notice``."""
        team_id = ThreadKey.parse(answer.thread_key).parts[0]
        await mark_left_answer(await self._client_of(team_id), self._budgets, answer, notice)

    async def _client_of(self, team_id: str) -> AsyncWebClient:
        """The workspace's client; with OAuth, with the token its installation in the store
        has now (another replica may have seen it uninstalled or installed again)."""
        if self._flow is None:
            return self._workspaces.client(team_id)
        try:
            bot = await self._flow.installations.find_bot_of_team(team_id)
        except BridgeError as exc:  # given back to be marked at a later beat
            raise SlackCallFailed("takeover", f"the store cannot be read: {exc}") from None
        if bot is None or not bot.bot_token:
            raise SlackCallFailed("takeover", f"workspace {team_id} is not installed")
        with contextlib.suppress(SlackCallFailed):  # no request of the workspace came here
            known = self._workspaces.client(team_id)
            if known.token == bot.bot_token:
                return known
        client = self._team_client(bot.bot_token, team_id)
        client.session = self._client.session
        return client

    def _on_rate_limited(self, team_id: str | None, method: str, retry_after: float) -> None:
        self._metrics.rate_limited.labels("slack").inc()
        self._budgets.on_rate_limited(method, retry_after, team_id=team_id)

    def _team_client(self, token: str, team_id: str) -> AsyncWebClient:
        """A workspace's own client: its 429s pause only its own budgets."""
        return make_web_client(
            token,
            self._settings.api_url,
            on_rate_limited=functools.partial(self._on_rate_limited, team_id),
        )


def _socket_up(client: SocketModeClient) -> bool:
    session = client.current_session
    return not client.closed and session is not None and not session.closed
