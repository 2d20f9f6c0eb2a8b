"""Slack: events in through slack-bolt (Socket Mode or HTTP), answers out through a sink.

- A mention in a channel is answered in a thread under that message; later
  messages in a thread the bot already answers continue without a mention.
- A DM is one conversation per DM channel (a DM thread is its own one).
- 👍 / 👎 on an answer (skin tones included) rate it in Dify; removing
  the reaction revokes the rating.
- ``SLACK_ALLOWED_CHANNELS`` / ``SLACK_ALLOWED_USERS``, when set, are checked
  before anything reaches the bridge; DM channels count as channels.

Every event is acknowledged before its answer streams (bolt acks first, the
listener runs after), including event types the bot ignores, so Slack never
retries or disables the subscription. Redeliveries are deduplicated by the
bridge on the keys :mod:`dify_bridge.adapters.slack_events` builds.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp

from dify_bridge.bridge import Bridge
from dify_bridge.config import SlackSettings
from dify_bridge.errors import BridgeError
from dify_bridge.models import Incoming
from dify_bridge.pacing import EditBudget

from .slack_client import SlackCallFailed, call_slack, make_web_client
from .slack_directory import SlackDirectory
from .slack_events import (
    BotIdentity,
    UserMessage,
    parse_message,
    parse_reaction,
)
from .slack_sink import SlackSink

__all__ = ["SlackAdapter", "SlackStartFailed"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


class SlackStartFailed(BridgeError):
    """Slack refused the bot's credentials or could not be reached at start."""


class SlackAdapter:
    """One Slack workspace's bot, in Socket Mode if an app token is set, else HTTP."""

    name = "slack"

    def __init__(self, settings: SlackSettings, bridge: Bridge) -> None:
        self._settings = settings
        self._bridge = bridge
        self._client = make_web_client(
            settings.bot_token.value, settings.api_url, on_rate_limited=self._on_rate_limited
        )
        self._directory = SlackDirectory(self._client)
        self._app = AsyncApp(
            name="dify-bridge",
            client=self._client,
            signing_secret=settings.signing_secret.value,
            request_verification_enabled=True,
        )
        self._bot: BotIdentity | None = None
        self._budgets: dict[str, EditBudget] = {}
        self._penalty_until: dict[str, float] = {}
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready = False
        self._register_listeners()

    @property
    def port(self) -> int:
        """The port the HTTP server is bound to (0 in Socket Mode or before start)."""
        if self._runner is None or not self._runner.addresses:
            return 0
        return int(self._runner.addresses[0][1])

    @property
    def ready(self) -> bool:
        return self._ready

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
            raise SlackStartFailed(f"SLACK_BOT_TOKEN was refused: {exc.error}") from None
        return BotIdentity(
            team_id=str(data.get("team_id") or ""),
            user_id=str(data.get("user_id") or ""),
            bot_id=str(data.get("bot_id") or ""),
            workspace_url=str(data.get("url") or ""),
        )

    async def _connect_socket(self) -> None:
        handler = AsyncSocketModeHandler(
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
            raise SlackStartFailed(f"SLACK_APP_TOKEN was refused: {exc.error}") from None
        handler.client.wss_uri = str(opened.get("url") or "") or None
        await handler.connect_async()  # type: ignore[no-untyped-call]

    async def _serve_http(self) -> None:
        app = web.Application()
        app.router.add_post(EVENTS_PATH, self._handle_events)
        app.router.add_get(HEALTH_PATH, self._handle_health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port)
        await site.start()

    async def _handle_events(self, request: web.Request) -> web.Response:
        response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _handle_health(self, request: web.Request) -> web.Response:
        if self._ready:
            return web.json_response({"ok": True})
        return web.json_response({"ok": False}, status=503)

    # ----------------------------------------------------------------- listeners

    def _register_listeners(self) -> None:
        app = self._app
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("reaction_added")(self._on_reaction)
        app.event("reaction_removed")(self._on_reaction)
        # bolt answers 404 to what no listener matches, and Slack retries those
        everything = re.compile(".*")
        app.event(everything)(self._ignore)
        app.action(everything)(self._ack_only)
        app.shortcut(everything)(self._ack_only)
        app.view(everything)(self._ack_only)

    async def _ignore(self) -> None:
        return None

    async def _ack_only(self, ack: AsyncAck) -> None:
        await ack()

    async def _on_mention(self, body: dict[str, Any]) -> None:
        message = parse_message(body, await self._identity())
        if message is not None and self._allowed(message.channel, message.user):
            await self._answer(message)

    async def _on_message(self, body: dict[str, Any]) -> None:
        message = parse_message(body, await self._identity())
        if message is None or not self._allowed(message.channel, message.user):
            return
        # in channels a mention of a new thread arrives as app_mention; here only known threads
        if not message.is_dm and (
            message.thread_ts is None or not await self._bridge.is_tracked(message.thread_key)
        ):
            return
        await self._answer(message)

    async def _on_reaction(self, body: dict[str, Any]) -> None:
        found = parse_reaction(body, await self._identity())
        if found is None or not self._allowed(found.channel, found.reaction.user_id):
            return
        try:
            await self._bridge.handle_reaction(found.reaction)
        except Exception:
            log.exception("reaction on %s not handled", found.reaction.message_key)

    async def _identity(self) -> BotIdentity:
        if self._bot is None:
            self._bot = await self._identify()
        return self._bot

    def _allowed(self, channel: str, user: str) -> bool:
        channels, users = self._settings.allowed_channels, self._settings.allowed_users
        if channels and channel not in channels:
            log.debug("ignoring channel %s: not in SLACK_ALLOWED_CHANNELS", channel)
            return False
        if users and user not in users:
            log.debug("ignoring user %s: not in SLACK_ALLOWED_USERS", user)
            return False
        return True

    async def _answer(self, message: UserMessage) -> None:
        bot = await self._identity()
        try:
            channel_name = (
                "" if message.is_dm else await self._directory.channel_name(message.channel)
            )
            incoming = Incoming(
                platform="slack",
                thread_key=message.thread_key,
                text=message.text,
                user_id=message.user,
                event_keys=message.event_keys,
                user_name=await self._directory.user_name(message.user),
                channel_id=message.channel,
                channel_name=channel_name,
                thread_url=message.thread_url(bot.workspace_url),
                shared=not message.is_dm,
                route_scopes=(f"slack:{message.channel}", f"slack:{message.team_id}"),
                attachments=message.attachments,
            )
            sink = SlackSink(
                self._client,
                team_id=message.team_id,
                channel=message.channel,
                thread_ts=message.reply_thread_ts,
                reply_to_ts=message.ts,
                edit_budget=self._budget(message.team_id),
            )
            await self._bridge.handle_message(incoming, sink)
        except Exception:
            log.exception("message %s in %s not handled", message.ts, message.channel)

    # -------------------------------------------------------------- rate limits

    def _budget(self, team_id: str) -> EditBudget:
        budget = self._budgets.get(team_id)
        if budget is None:
            budget = EditBudget(self._settings.edits_per_minute)
            self._budgets[team_id] = budget
        return budget

    def _on_rate_limited(self, method: str, retry_after: float) -> None:
        """A 429 on chat.update pauses every answer's edits in the workspace."""
        if method != "chat.update":
            return
        now = time.monotonic()
        for team_id, budget in self._budgets.items():
            # many answers see the same 429 at once: extend the pause, never stack it
            until = self._penalty_until.get(team_id, 0.0)
            extra = now + retry_after - max(now, until)
            if extra > 0:
                budget.penalize(extra)
                self._penalty_until[team_id] = now + retry_after
