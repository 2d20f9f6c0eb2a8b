"""A fake Slack for end-to-end tests: Web API, Socket Mode and signed events.

``FakeSlack`` is one aiohttp server on 127.0.0.1 (port 0). Point a client at
:attr:`FakeSlack.api_url` (the value of ``SLACK_API_URL``). It records every
Web API call, keeps each message's current text so a test can read a thread
the way a user sees it, and can misbehave on request: 429 with
``Retry-After``, a rolling-window rate limit, 5xx, a revoked token.

Socket Mode: ``apps.connections.open`` (with the ``xapp-`` token) answers the
``ws://`` URL of a websocket on the same server; it greets with ``hello`` and
:meth:`FakeSlack.push_event` sends an ``events_api`` envelope and waits for
the client's ack. HTTP mode: :meth:`FakeSlack.post_event` signs an Events API
body the way Slack does and posts it to the app.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from tests.fakes.bodies import Serving, serve_in_pieces

__all__ = ["ApiCall", "FakeFile", "FakeMessage", "FakeSlack", "sign_request"]

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
MANIFEST = Path(__file__).parents[2] / "docs" / "deploy" / "slack-manifest.json"


def manifest_scopes() -> list[str]:
    """The bot scopes of the app manifest admins install from: what the fake grants."""
    return list(json.loads(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])


UPDATE_MAX_CHARS = 4000
POST_MAX_CHARS = 40_000


@dataclass
class ApiCall:
    """One Web API request as the fake received and answered it."""

    method: str
    args: dict[str, Any]
    token: str
    status: int
    error: str = ""
    at: float = 0.0
    retry_after: float | None = None
    """The ``Retry-After`` the fake answered with (429s only)."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error


@dataclass
class FakeMessage:
    channel: str
    ts: str
    text: str
    user: str
    thread_ts: str | None = None
    blocks: list[Any] | None = None
    edits: int = 0
    deleted: bool = False
    streaming: bool = False
    reactions: dict[str, list[str]] = field(default_factory=dict)
    files: list[FakeFile] = field(default_factory=list)
    """Files shared in this message (an upload completed into the channel)."""

    @property
    def visible(self) -> str:
        """What a user reads: the section blocks if there are blocks, else the text."""
        if not self.blocks:
            return self.text
        return "".join(
            str(block.get("text", {}).get("text", ""))
            for block in self.blocks
            if isinstance(block, dict) and block.get("type") == "section"
        )

    def buttons(self) -> list[dict[str, Any]]:
        return [
            element
            for block in self.blocks or []
            if isinstance(block, dict) and block.get("type") == "actions"
            for element in block.get("elements", [])
        ]


@dataclass
class FakeFile:
    id: str
    name: str
    mimetype: str
    content: bytes
    title: str = ""
    serving: Serving = field(default_factory=Serving)
    """How the download is served (always in small pieces)."""


@dataclass
class _PendingUpload:
    """A file between ``files.getUploadURLExternal`` and ``files.completeUploadExternal``."""

    filename: str
    length: int
    content: bytes | None = None


@dataclass
class _Fault:
    remaining: int
    status: int
    error: str
    retry_after: int


@dataclass
class _Limit:
    calls: int
    window: float
    stamps: deque[float] = field(default_factory=deque)


def sign_request(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends with an Events API request: ``v0`` HMAC-SHA256 signature."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


class FakeSlack:
    """A workspace with one bot user, served on 127.0.0.1."""

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        signing_secret: str = SIGNING_SECRET,
        team_id: str = "T0FAKE",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[str, str], FakeMessage] = {}
        self.users: dict[str, str] = {"U1": "Alice", "U2": "Bob"}
        self.bot_users: set[str] = set()
        """Users that ``users.info`` reports as other apps' bots."""
        self.channels: dict[str, str] = {}
        self.files: dict[str, FakeFile] = {}
        self.downloads: list[tuple[str, str]] = []
        """(file id, token presented) of every download attempt."""
        self.pending_uploads: dict[str, _PendingUpload] = {}
        self.token_revoked = False
        self.scopes = manifest_scopes()
        """Granted to the bot token (``auth.test``'s ``x-oauth-scopes`` header)."""
        self._ts = itertools.count(1)
        self._events = itertools.count(1)
        self._faults: dict[str, deque[_Fault]] = {}
        self._limits: dict[str, _Limit] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.socket_connected = asyncio.Event()
        self.socket_connections = 0

    # ------------------------------------------------------------------ server

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

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # -------------------------------------------------------------- inspection

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def thread(self, channel: str, thread_ts: str | None) -> list[FakeMessage]:
        """Messages the bot shows in a thread (``None``: top level), oldest first."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel == channel
                and m.thread_ts == thread_ts
                and m.user == self.bot_user_id
                and not m.deleted
            ),
            key=lambda m: float(m.ts),
        )

    def thread_texts(self, channel: str, thread_ts: str | None) -> list[str]:
        return [m.visible for m in self.thread(channel, thread_ts)]

    def shared_files(self, channel: str, thread_ts: str | None) -> list[FakeFile]:
        """Files the bot shared in a thread (``None``: top level), oldest first."""
        return [f for m in self.thread(channel, thread_ts) for f in m.files]

    def reactions_on(self, channel: str, ts: str) -> dict[str, list[str]]:
        return dict(self.messages[(channel, ts)].reactions)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; it is checked after every API call."""
        async with asyncio.timeout(within):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 429,
        error: str = "ratelimited",
        retry_after: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error."""
        self._faults.setdefault(method, deque()).append(_Fault(times, status, error, retry_after))

    def rate_limit(self, method: str, calls: int, window: float = 60.0) -> None:
        """Answer 429 once ``method`` got ``calls`` calls within ``window`` seconds.

        Like Slack's tiers, calls answered with 429 count too, so a client
        that ignores ``Retry-After`` stays limited.
        """
        self._limits[method] = _Limit(calls, window)

    def revoke_token(self) -> None:
        self.token_revoked = True

    # ------------------------------------------------------------ messages

    def next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def add_message(
        self, channel: str, text: str, *, user: str = "U1", thread_ts: str | None = None
    ) -> FakeMessage:
        message = FakeMessage(channel, self.next_ts(), text, user, thread_ts)
        self.messages[(channel, message.ts)] = message
        return message

    # ------------------------------------------------------------- events

    def event_callback(self, event: dict[str, Any], *, event_id: str = "") -> dict[str, Any]:
        """An Events API body wrapping ``event``, as Slack delivers it."""
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "api_app_id": "AFAKE",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._events):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": self.team_id, "user_id": self.bot_user_id, "is_bot": True}
            ],
        }

    def user_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U1",
        thread_ts: str | None = None,
        channel_type: str = "channel",
        mention: bool = False,
        event_type: str = "message",
        **extra: Any,
    ) -> dict[str, Any]:
        """A user writes ``text``: stored in the workspace; returns its event.

        ``mention`` prefixes the bot mention; ``event_type="app_mention"``
        gives the event Slack sends for a mention.
        """
        body = f"<@{self.bot_user_id}> {text}" if mention else text
        message = self.add_message(channel, body, user=user, thread_ts=thread_ts)
        event: dict[str, Any] = {
            "type": event_type,
            "user": user,
            "text": body,
            "ts": message.ts,
            "channel": channel,
            "event_ts": message.ts,
            "team": self.team_id,
        }
        if event_type == "message":
            event["channel_type"] = channel_type
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        event.update(extra)
        return event

    def reaction_event(
        self, channel: str, ts: str, name: str, *, user: str = "U1", added: bool = True
    ) -> dict[str, Any]:
        message = self.messages.get((channel, ts))
        event: dict[str, Any] = {
            "type": "reaction_added" if added else "reaction_removed",
            "user": user,
            "reaction": name,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": self.next_ts(),
        }
        if message is not None:
            event["item_user"] = message.user
        return event

    def add_file(
        self,
        name: str,
        content: bytes,
        mimetype: str = "text/plain",
        *,
        serving: Serving | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A file a user shared; returns the file object an event's ``files`` carries.

        ``extra`` overrides or adds fields (e.g. ``size``, ``subtype``); ``serving``
        says how the download is served.
        """
        file = FakeFile(f"F{next(self._ts):08d}", name, mimetype, content)
        if serving is not None:
            file.serving = serving
        self.files[file.id] = file
        url = f"{self.base_url}/files-pri/{file.id}/{name}"
        return {
            "id": file.id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(content),
            "url_private": url,
            "url_private_download": url + "?download=1",
            "mode": "hosted",
        } | extra

    def audio_clip(
        self, content: bytes, *, filetype: str = "webm", mimetype: str = "audio/webm"
    ) -> dict[str, Any]:
        """A clip recorded in Slack's composer: ``subtype: slack_audio`` (mp4 ones say video)."""
        return self.add_file(
            f"audio_message.{filetype}", content, mimetype, subtype="slack_audio", filetype=filetype
        )

    def block_action(
        self, message: FakeMessage, action_id: str, *, user: str = "U1"
    ) -> dict[str, Any]:
        """The ``block_actions`` payload of a click on one of ``message``'s buttons."""
        (button,) = [b for b in message.buttons() if b["action_id"] == action_id]
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        }
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "AFAKE",
            "token": "legacy-verification-token",
            "container": container,
            "trigger_id": f"{next(self._events)}.trigger",
            "team": {"id": self.team_id, "domain": "fake"},
            "channel": {"id": message.channel, "name": f"channel-{message.channel.lower()}"},
            "message": _view(message),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "dify_controls",
                    "text": button["text"],
                    "value": button.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def slash_command(
        self, channel: str, text: str = "", *, user: str = "U1", command: str = "/dify"
    ) -> dict[str, str]:
        """The form fields Slack posts for a slash command (no thread: Slack never says)."""
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else f"c-{channel}",
            "user_id": user,
            "user_name": self.users.get(user, user).lower(),
            "command": command,
            "text": text,
            "api_app_id": "AFAKE",
            "is_enterprise_install": "false",
            "response_url": f"{self.base_url}/commands/{next(self._events)}",
            "trigger_id": f"{next(self._events)}.trigger",
        }

    async def post_command(
        self, url: str, fields: dict[str, str], *, secret: str | None = None
    ) -> tuple[int, str]:
        """POST a slash command the way Slack does (signed form fields); return (status, body)."""
        return await self._post_form(url, urlencode(fields), secret)

    async def post_action(
        self, url: str, payload: dict[str, Any], *, secret: str | None = None
    ) -> tuple[int, str]:
        """POST an interactive payload the way Slack does (form field ``payload``, signed)."""
        return await self._post_form(url, "payload=" + quote(json.dumps(payload)), secret)

    async def _post_form(self, url: str, raw: str, secret: str | None) -> tuple[int, str]:
        headers = sign_request(raw, self.signing_secret if secret is None else secret)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=raw.encode(), headers=headers) as response,
        ):
            return response.status, await response.text()

    async def post_event(
        self,
        url: str,
        body: dict[str, Any],
        *,
        retry_num: int | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, str]:
        """POST a signed Events API body to the app; return (status, body)."""
        raw = json.dumps(body)
        headers = sign_request(raw, self.signing_secret if secret is None else secret, timestamp)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=raw.encode(), headers=headers) as response,
        ):
            return response.status, await response.text()

    # -------------------------------------------------------- socket mode

    async def push_event(
        self,
        body: dict[str, Any],
        *,
        retry_attempt: int = 0,
        envelope_type: str = "events_api",
        within: float = 5.0,
    ) -> dict[str, Any]:
        """Send an envelope (``events_api``, ``interactive``) over Socket Mode; return the ack."""
        await asyncio.wait_for(self.socket_connected.wait(), within)
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": body,
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        ack: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = ack
        await self._sockets[-1].send_str(json.dumps(envelope))
        return await asyncio.wait_for(ack, within)

    async def push_raw(
        self, text: str, *, envelope_id: str | None = None, within: float = 5.0
    ) -> dict[str, Any] | None:
        """Send ``text`` as one websocket frame, exactly as given (a broken envelope).

        With ``envelope_id`` wait for the client's ack of that id and return it;
        without, return None as soon as the frame is sent.
        """
        await asyncio.wait_for(self.socket_connected.wait(), within)
        ack: asyncio.Future[dict[str, Any]] | None = None
        if envelope_id is not None:
            ack = asyncio.get_running_loop().create_future()
            self._acks[envelope_id] = ack
        await self._sockets[-1].send_str(text)
        return None if ack is None else await asyncio.wait_for(ack, within)

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections += 1
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": "AFAKE"},
                }
            )
        )
        self.socket_connected.set()
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                future = self._acks.pop(str(data.get("envelope_id", "")), None)
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self.socket_connected.clear()
        return ws

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        """``url_private``: the bytes with the bot token; Slack's login page without it."""
        file_id = request.match_info["file_id"]
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        self.downloads.append((file_id, token))
        file = self.files.get(file_id)
        if file is None:
            return web.Response(status=404, text="not found")
        if token != self.bot_token or self.token_revoked:
            return web.Response(text="<html>Sign in to Slack</html>", content_type="text/html")
        return await serve_in_pieces(request, file.content, file.mimetype, file.serving)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL: takes the bytes of a file announced by getUploadURLExternal."""
        content = await request.read()
        pending = self.pending_uploads.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404, text="unknown upload")
        if len(content) != pending.length:
            return web.Response(status=400, text="length does not match")
        pending.content = content
        return web.Response(text="OK - " + str(len(content)))

    # ------------------------------------------------------------ web api

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        status, payload, headers = self._answer(method, token, args)
        retry_after = float(headers["Retry-After"]) if "Retry-After" in headers else None
        error = str(payload.get("error", ""))
        self.calls.append(
            ApiCall(method, args, token, status, error, time.monotonic(), retry_after)
        )
        await self.notify()
        return web.json_response(payload, status=status, headers=headers)

    def _answer(
        self, method: str, token: str, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != wanted:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if self.token_revoked and token == self.bot_token:
            return 200, {"ok": False, "error": "token_revoked"}, {}
        limited = self._check_limit(method)
        if limited is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limited)}
        faults = self._faults.get(method)
        if faults:
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.popleft()
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
            return fault.status, {"ok": False, "error": fault.error}, headers
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        result: dict[str, Any] = handler(args)
        if method == "auth.test":
            return 200, result, {"x-oauth-scopes": ",".join(self.scopes)}
        return 200, result, {}

    def _check_limit(self, method: str) -> int | None:
        limit = self._limits.get(method)
        if limit is None:
            return None
        now = time.monotonic()
        while limit.stamps and limit.stamps[0] <= now - limit.window:
            limit.stamps.popleft()
        limit.stamps.append(now)
        if len(limit.stamps) <= limit.calls:
            return None
        oldest = limit.stamps[0]
        return max(1, math.ceil(oldest + limit.window - now))

    @staticmethod
    def _error(code: str) -> dict[str, Any]:
        return {"ok": False, "error": code}

    def _message(self, args: dict[str, Any]) -> FakeMessage | None:
        message = self.messages.get((str(args.get("channel", "")), str(args.get("ts", ""))))
        return None if message is None or message.deleted else message

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.test/",
            "team": "Fake Team",
            "user": "bridge-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _api_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        url = f"ws://127.0.0.1:{self._port}/socket-mode/{uuid.uuid4().hex}"
        return {"ok": True, "url": url}

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        text = str(args.get("text", "") or "")
        if not channel:
            return self._error("channel_not_found")
        if not text and not args.get("blocks"):
            return self._error("no_text")
        if len(text) > POST_MAX_CHARS:
            return self._error("msg_too_long")
        blocks = _blocks(args.get("blocks"))
        if blocks and _invalid_blocks(blocks):
            return self._error("invalid_blocks")
        thread_ts = args.get("thread_ts") or None
        message = self.add_message(channel, text, user=self.bot_user_id, thread_ts=thread_ts)
        message.blocks = blocks
        return {"ok": True, "channel": channel, "ts": message.ts, "message": _view(message)}

    def _api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._message(args)
        if message is None:
            return self._error("message_not_found")
        if message.user != self.bot_user_id:
            return self._error("cant_update_message")
        text = str(args.get("text", "") or "")
        if len(text) > UPDATE_MAX_CHARS:
            return self._error("msg_too_long")
        blocks = _blocks(args.get("blocks"))
        if blocks and _invalid_blocks(blocks):
            return self._error("invalid_blocks")
        if text:
            message.text = text
        if "blocks" in args:
            message.blocks = blocks
        message.edits += 1
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text}

    def _api_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._message(args)
        if message is None:
            return self._error("message_not_found")
        message.deleted = True
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self.next_ts()}

    def _api_chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        text = str(args.get("markdown_text", "") or "")
        thread_ts = args.get("thread_ts") or None
        message = self.add_message(channel, text, user=self.bot_user_id, thread_ts=thread_ts)
        message.streaming = True
        return {"ok": True, "channel": channel, "ts": message.ts}

    def _api_chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._message(args)
        if message is None:
            return self._error("message_not_found")
        if not message.streaming:
            return self._error("message_not_in_streaming_state")
        message.text += str(args.get("markdown_text", "") or "")
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _api_chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        result = self._api_chat_appendStream(args)
        message = self._message(args)
        if message is not None and result["ok"]:
            message.streaming = False
        return result

    def _api_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(args.get("channel", "")), str(args.get("timestamp", ""))))
        if message is None:
            return self._error("message_not_found")
        users = message.reactions.setdefault(str(args.get("name", "")), [])
        if self.bot_user_id in users:
            return self._error("already_reacted")
        users.append(self.bot_user_id)
        return {"ok": True}

    def _api_reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(args.get("channel", "")), str(args.get("timestamp", ""))))
        if message is None:
            return self._error("message_not_found")
        name = str(args.get("name", ""))
        users = message.reactions.get(name, [])
        if self.bot_user_id not in users:
            return self._error("no_reaction")
        users.remove(self.bot_user_id)
        if not users:
            del message.reactions[name]
        return {"ok": True}

    def _api_reactions_get(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(args.get("channel", "")), str(args.get("timestamp", ""))))
        if message is None:
            return self._error("message_not_found")
        view = _view(message)
        view["reactions"] = [
            {"name": name, "users": users, "count": len(users)}
            for name, users in message.reactions.items()
        ]
        return {"ok": True, "type": "message", "channel": message.channel, "message": view}

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user", ""))
        if user_id not in self.users:
            return self._error("user_not_found")
        name = self.users[user_id]
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name.lower(),
                "real_name": name,
                "profile": {"display_name": name, "real_name": name},
                "is_bot": user_id in self.bot_users,
            },
        }

    def _api_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        is_im = channel.startswith("D")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": self.channels.get(channel, f"channel-{channel.lower()}"),
                "is_channel": channel.startswith("C"),
                "is_im": is_im,
            },
        }

    def _api_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _api_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename or not length.isdigit():
            return self._error("invalid_arguments")
        file_id = f"F{next(self._ts):08d}"
        self.pending_uploads[file_id] = _PendingUpload(filename, int(length))
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        """Shares the uploaded files in ``channel_id`` (under ``thread_ts``) as one message."""
        files = args.get("files")
        parsed = json.loads(files) if isinstance(files, str) else files or []
        done: list[FakeFile] = []
        for item in parsed:
            pending = self.pending_uploads.pop(str(item.get("id")), None)
            if pending is None or pending.content is None:
                return self._error("file_not_found")
            file = FakeFile(
                str(item["id"]),
                pending.filename,
                _mimetype(pending.filename),
                pending.content,
                str(item.get("title") or pending.filename),
            )
            self.files[file.id] = file
            done.append(file)
        channel = str(args.get("channel_id") or "")
        if channel:
            thread_ts = args.get("thread_ts") or None
            message = self.add_message(channel, "", user=self.bot_user_id, thread_ts=thread_ts)
            message.files = done
        return {"ok": True, "files": [{"id": f.id, "title": f.title} for f in done]}

    def _api_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "file": {"id": args.get("file", ""), "name": "file"}}


def _mimetype(filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower()
    return {"mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav"}.get(
        extension, "application/octet-stream"
    )


def _blocks(value: Any) -> list[Any] | None:
    if value is None:
        return None
    parsed = json.loads(value) if isinstance(value, str) else value
    return list(parsed) if isinstance(parsed, list) else None


def _invalid_blocks(blocks: list[Any]) -> bool:
    """Block Kit limits Slack enforces (and answers ``invalid_blocks`` for)."""
    if len(blocks) > 50:
        return True
    for block in blocks:
        if block.get("type") == "section" and len(block["text"]["text"]) > 3000:
            return True
        if block.get("type") == "actions":
            elements = block.get("elements", [])
            ids = [e.get("action_id") for e in elements]
            if len(ids) != len(set(ids)) or len(elements) > 25:
                return True
            for element in elements:
                if len(element["text"]["text"]) > 75 or len(element.get("value", "")) > 2000:
                    return True
    return False


def _view(message: FakeMessage) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "message",
        "user": message.user,
        "text": message.text,
        "ts": message.ts,
    }
    if message.thread_ts:
        view["thread_ts"] = message.thread_ts
    if message.blocks:
        view["blocks"] = message.blocks
    return view
