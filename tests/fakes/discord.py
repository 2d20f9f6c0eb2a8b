"""A fake Discord (REST API + gateway websocket) that the real discord.py client can use.

Bind it on 127.0.0.1 with an ephemeral port and point the client at
:attr:`FakeDiscord.api_url` (``DISCORD_API_URL``) and :attr:`FakeDiscord.gateway_url`
(``DISCORD_GATEWAY_URL``). It speaks what discord.py 2.x relies on:

* REST: ``Authorization: Bot <token>`` is required; JSON bodies are answered with
  ``Content-Type: application/json`` exactly (discord.py parses nothing else) and every
  response carries ``Via`` (without it discord.py treats a 429 as a Cloudflare ban).
  Message create/edit share per-channel buckets with Discord's ``X-RateLimit-*`` headers;
  :meth:`FakeDiscord.rate_limit` injects 429s with ``Retry-After`` and ``retry_after``.
* Gateway: HELLO, heartbeat ACK, IDENTIFY -> READY + GUILD_CREATE, RESUME -> missed
  events + RESUMED, INVALID_SESSION, forced disconnects, close 4004 (bad token) and
  4014 (privileged intents not enabled). Payloads are compressed the way the client
  asks in the URL query: ``zlib-stream`` (one shared compressobj per connection, each
  payload ended with ``Z_SYNC_FLUSH``) or ``zstd-stream`` (one shared compressor, each
  payload a flushed block; discord.py asks for it only when ``zstandard`` or
  ``compression.zstd`` is importable, so the same module is there for the fake).

Everything a user would see is kept: :meth:`FakeDiscord.contents` gives the current text
of a channel's messages, :meth:`FakeDiscord.buttons` the buttons under a message, and files
the bot sends are kept with their bytes. Users can attach files (served without a token at
``/attachments/...`` on the same port, like Discord's CDN), click buttons and run slash
commands (INTERACTION_CREATE); the bot's interaction callbacks, follow-ups and command
registrations are recorded. Every REST call is recorded in :attr:`FakeDiscord.calls`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from tests.fakes.bodies import Serving, serve_in_pieces

DISCORD_EPOCH_MS = 1_420_070_400_000
MESSAGE_CONTENT_INTENT = 1 << 15
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | MESSAGE_CONTENT_INTENT

Json = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class FakeGuild:
    id: int
    name: str
    channels: list[Json] = field(default_factory=list)
    threads: list[Json] = field(default_factory=list)
    roles: list[Json] = field(default_factory=list)
    members: dict[int, list[int]] = field(default_factory=dict)
    """user id -> role ids"""


@dataclass
class RestCall:
    method: str
    path: str
    """Path below the API base, e.g. ``/channels/1/messages``."""
    json: Any
    status: int = 0


@dataclass
class FakeFile:
    """A file on a message: one a user attached, or one the bot uploaded."""

    filename: str
    content_type: str
    data: bytes
    declared_size: int | None = None
    """The attachment's ``size`` as Discord states it (None: the true size)."""
    serving: Serving = field(default_factory=Serving)
    """How the CDN serves the download (always in small pieces)."""


@dataclass
class InteractionCallback:
    """What the bot answered to one interaction (``POST /interactions/{id}/{token}/callback``)."""

    interaction_id: int
    type: int
    """6: deferred update (a button acknowledged), 4: a message, 5: deferred message."""
    data: Json | None


_CALL = web.RequestKey("call", RestCall)
_FILES = web.RequestKey("files", list[FakeFile])
VOICE_MESSAGE_FLAG = 1 << 13
EPHEMERAL_FLAG = 1 << 6


@dataclass
class _RateLimitRule:
    method: str
    path: re.Pattern[str]
    count: int
    retry_after: float
    is_global: bool


@dataclass
class _Bucket:
    limit: int
    window: float
    used: int = 0
    reset_at: float = 0.0


class _GatewayConnection:
    """One websocket; serialises sends so compressed frames stay in order."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.lock = asyncio.Lock()
        self.closed_by_server = False
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd: Any = _zstd_compressor() if compress == "zstd-stream" else None

    async def send(self, payload: Json) -> None:
        text = json.dumps(payload)
        async with self.lock:
            if self.ws.closed:
                return
            try:
                if self._zlib is not None:
                    data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                elif self._zstd is not None:
                    await self.ws.send_bytes(self._zstd(text.encode()))
                else:
                    await self.ws.send_str(text)
            except ConnectionError:
                pass  # the socket is going away; the session log keeps the event for RESUME


def _zstd_compressor() -> Callable[[bytes], bytes]:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        from compression import zstd  # type: ignore[import-not-found]

        compressor = zstd.ZstdCompressor()
        return lambda data: compressor.compress(data, mode=zstd.ZstdCompressor.FLUSH_BLOCK)  # type: ignore[no-any-return]
    obj = zstandard.ZstdCompressor().compressobj()
    return lambda data: obj.compress(data) + obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)  # type: ignore[no-any-return]


@dataclass
class _Session:
    id: str
    seq: int = 0
    log: list[tuple[int, Json]] = field(default_factory=list)
    conn: _GatewayConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    replay_from: int | None = None


class FakeDiscord:
    """In-process Discord for end-to-end tests. Use ``async with FakeDiscord() as discord:``."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_name: str = "dify-bot",
        message_content_enabled: bool = True,
        heartbeat_interval_ms: int = 41_250,
        threads_in_guild_create: bool = True,
    ) -> None:
        self.token = token
        self.message_content_enabled = message_content_enabled
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.threads_in_guild_create = threads_in_guild_create
        self._counter = itertools.count(1)
        self.bot = FakeUser(self.snowflake(), bot_name, bot=True)
        self.application_id = self.snowflake()
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, Json] = {}
        self.messages: dict[int, Json] = {}
        self.history: dict[int, list[int]] = {}
        self.reactions: dict[int, dict[str, set[int]]] = {}
        self.files: dict[int, FakeFile] = {}
        """attachment id -> file, for user attachments and bot uploads alike"""
        self.interactions: dict[int, Json] = {}
        self.callbacks: list[InteractionCallback] = []
        self.followups: dict[int, list[Json]] = {}
        """Messages sent after a deferred answer (``POST /webhooks/{app}/{token}``)."""
        self.commands: list[Json] | None = None
        """The global commands the bot registered last (None: never)."""
        self.calls: list[RestCall] = []
        self.identifies: list[Json] = []
        self.resumes: list[Json] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.ratelimited: list[RestCall] = []
        self.bucket_limits: dict[str, tuple[int, float]] = {
            "create": (5, 5.0),
            "edit": (5, 5.0),
        }
        self._buckets: dict[tuple[str, int], _Bucket] = {}
        self._rules: list[_RateLimitRule] = []
        self._sessions: dict[str, _Session] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{aid}/{filename}", self._download)
        api = "/api/v10"
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/channels/{cid}", self._get_channel),
            ("POST", "/channels/{cid}/typing", self._typing),
            ("POST", "/channels/{cid}/messages", self._create_message),
            ("GET", "/channels/{cid}/messages/{mid}", self._get_message),
            ("PATCH", "/channels/{cid}/messages/{mid}", self._edit_message),
            ("DELETE", "/channels/{cid}/messages/{mid}", self._delete_message),
            ("POST", "/channels/{cid}/messages/{mid}/threads", self._create_thread),
            ("PUT", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._react),
            ("DELETE", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._unreact),
            ("PUT", "/applications/{aid}/commands", self._put_commands),
            ("POST", "/interactions/{iid}/{token}/callback", self._interaction_callback),
            ("POST", "/webhooks/{aid}/{token}", self._followup),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, api + path, handler)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for session in list(self._sessions.values()):
            if session.conn is not None:
                session.conn.closed_by_server = True
                await session.conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def env(self) -> dict[str, str]:
        """The variables that point ``dify-bridge run`` at this fake."""
        return {
            "DISCORD_BOT_TOKEN": self.token,
            "DISCORD_API_URL": self.api_url,
            "DISCORD_GATEWAY_URL": self.gateway_url,
        }

    # ----------------------------------------------------------------- world building

    def snowflake(self) -> int:
        now_ms = int(time.time() * 1000)
        return ((now_ms - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0x3FFFFF)

    def add_guild(self, name: str = "Test guild") -> FakeGuild:
        guild = FakeGuild(self.snowflake(), name)
        guild.roles.append(self._role_payload(guild.id, "@everyone"))
        guild.members[self.bot.id] = []
        self.guilds[guild.id] = guild
        return guild

    def add_role(self, guild: FakeGuild, name: str) -> int:
        role = self._role_payload(self.snowflake(), name)
        guild.roles.append(role)
        return int(role["id"])

    def add_text_channel(self, guild: FakeGuild, name: str = "general") -> int:
        channel_id = self.snowflake()
        channel = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild.id),
            "name": name,
            "position": len(guild.channels),
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
        }
        guild.channels.append(channel)
        self.channels[channel_id] = channel
        return channel_id

    def add_user(
        self,
        name: str,
        *,
        guild: FakeGuild | None = None,
        roles: tuple[int, ...] = (),
        bot: bool = False,
    ) -> FakeUser:
        user = FakeUser(self.snowflake(), name, bot=bot, global_name=name.title())
        if guild is not None:
            guild.members[user.id] = list(roles)
        return user

    def open_dm(self, user: FakeUser) -> int:
        channel_id = self.snowflake()
        self.channels[channel_id] = {
            "id": str(channel_id),
            "type": 1,
            "recipients": [user.payload()],
            "last_message_id": None,
        }
        return channel_id

    # ----------------------------------------------------------------- user actions

    async def send_message(
        self,
        channel_id: int,
        author: FakeUser,
        content: str,
        *,
        mention_bot: bool = False,
        message_type: int = 0,
        files: list[FakeFile] | tuple[FakeFile, ...] = (),
        flags: int = 0,
    ) -> Json:
        """A user posts ``content`` (with ``files``); the gateway gets MESSAGE_CREATE.

        Returns the message. A voice message is ``flags=VOICE_MESSAGE_FLAG`` with one
        ``audio/ogg`` file and no text.
        """
        if mention_bot:
            content = f"<@{self.bot.id}> {content}"
        message = self._message_payload(channel_id, author, content, message_type)
        message["flags"] = flags
        message["attachments"] = [self._attachment(f) for f in files]
        if mention_bot:
            message["mentions"] = [self._with_member(self.bot, message)]
        self._store_message(message)
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def add_reaction(self, message: Json, user: FakeUser, emoji: str) -> None:
        self.reactions.setdefault(int(message["id"]), {}).setdefault(emoji, set()).add(user.id)
        await self.dispatch("MESSAGE_REACTION_ADD", self._reaction_payload(message, user, emoji))

    async def remove_reaction(self, message: Json, user: FakeUser, emoji: str) -> None:
        self.reactions.get(int(message["id"]), {}).get(emoji, set()).discard(user.id)
        payload = self._reaction_payload(message, user, emoji)
        payload.pop("member", None)
        await self.dispatch("MESSAGE_REACTION_REMOVE", payload)

    async def click(self, message: Json, user: FakeUser, custom_id: str) -> int:
        """``user`` clicks the button ``custom_id`` under ``message``; returns the interaction id."""
        current = self.messages[int(message["id"])]
        if custom_id not in [b["custom_id"] for b in self.buttons(current)]:
            raise AssertionError(f"no button {custom_id!r} under message {message['id']}")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, int(current["channel_id"]), user, data, message=current)

    async def click_forged(self, message: Json, user: FakeUser, custom_id: str) -> int:
        """A component interaction on ``message`` with any ``custom_id`` (a forged click)."""
        current = self.messages[int(message["id"])]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, int(current["channel_id"]), user, data, message=current)

    async def run_command(self, channel_id: int, user: FakeUser, name: str) -> int:
        """``user`` runs the slash command ``/name`` in a channel; returns the interaction id."""
        registered = [c["name"] for c in self.commands or []]
        if name not in registered:
            raise AssertionError(f"/{name} is not registered (registered: {registered})")
        data = {"id": str(self.snowflake()), "name": name, "type": 1}
        return await self._interact(2, channel_id, user, data)

    def reply_for(self, interaction_id: int) -> Json | None:
        """What the person who ran a command reads: the direct answer or the first follow-up."""
        callback = self.callback_for(interaction_id)
        if callback is not None and callback.type == 4:
            return callback.data
        sent = self.followups.get(interaction_id)
        return sent[0] if sent else None

    def callback_for(self, interaction_id: int) -> InteractionCallback | None:
        return next((c for c in self.callbacks if c.interaction_id == interaction_id), None)

    # ----------------------------------------------------------------- what users see

    def buttons(self, message: Json | int) -> list[Json]:
        """The buttons under a message now (``label``, ``custom_id``...), in order."""
        message_id = int(message["id"]) if isinstance(message, dict) else message
        rows = self.messages[message_id].get("components") or []
        return [b for row in rows for b in row.get("components", [])]

    def message_files(self, message: Json) -> list[FakeFile]:
        """The files attached to a message, with their bytes."""
        current = self.messages[int(message["id"])]
        return [self.files[int(a["id"])] for a in current.get("attachments", [])]

    def channel_messages(self, channel_id: int) -> list[Json]:
        return [self.messages[mid] for mid in self.history.get(channel_id, [])]

    def contents(self, channel_id: int, *, bot_only: bool = True) -> list[str]:
        """Current text of the channel's messages, oldest first (the bot's only, by default)."""
        return [
            str(m["content"])
            for m in self.channel_messages(channel_id)
            if not bot_only or m["author"]["id"] == str(self.bot.id)
        ]

    def threads(self) -> list[Json]:
        return [c for c in self.channels.values() if c["type"] == 11]

    def requests(self, method: str, pattern: str = "") -> list[RestCall]:
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - a test helper; the deadline is the point
        what: str = "condition",
    ) -> None:
        """Wait until ``predicate()`` holds; it is re-checked after every REST call and event."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(predicate)
        except TimeoutError:
            recent = "\n".join(f"  {c.method} {c.path} -> {c.status}" for c in self.calls[-15:])
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last REST calls:\n{recent}"
            ) from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------- fault injection

    def rate_limit(
        self,
        method: str,
        path_pattern: str,
        *,
        retry_after: float = 0.3,
        count: int = 1,
        is_global: bool = False,
    ) -> None:
        """Answer the next ``count`` matching requests with 429, as Discord does."""
        self._rules.append(
            _RateLimitRule(method, re.compile(path_pattern), count, retry_after, is_global)
        )

    async def disconnect(self, *, code: int = 4000, replay_since: Json | None = None) -> None:
        """Close every gateway socket with ``code`` (4000: the client resumes).

        With ``replay_since`` (a message), the next RESUME replays every event from that
        message's MESSAGE_CREATE on, as if the client had missed them.
        """
        for session in list(self._sessions.values()):
            if replay_since is not None:
                session.replay_from = self._seq_of(session, replay_since)
            if session.conn is not None:
                session.conn.closed_by_server = True
                await session.conn.ws.close(code=code)

    async def drop_connections(self) -> None:
        """Cut every gateway socket without a close frame (a network failure)."""
        for session in list(self._sessions.values()):
            conn, session.conn = session.conn, None
            if conn is not None:
                conn.closed_by_server = True
                transport = conn.ws._req.transport if conn.ws._req else None
                if transport is not None:
                    transport.abort()

    async def invalidate_sessions(self, *, resumable: bool = False) -> None:
        """Send INVALID_SESSION; with ``resumable=False`` the client identifies anew."""
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.send({"op": 9, "d": resumable, "s": None, "t": None})
            if not resumable:
                self._sessions.pop(session.id, None)

    def connected_sessions(self) -> int:
        return sum(1 for s in self._sessions.values() if s.conn is not None)

    # ----------------------------------------------------------------- gateway

    async def dispatch(self, event: str, data: Json) -> None:
        """Send one DISPATCH to every session (kept for RESUME when disconnected)."""
        for session in list(self._sessions.values()):
            async with session.lock:
                session.seq += 1
                payload = {"op": 0, "t": event, "s": session.seq, "d": data}
                session.log.append((session.seq, payload))
                if session.conn is not None:
                    await session.conn.send(payload)
        await self._notify()

    def _seq_of(self, session: _Session, message: Json) -> int:
        for seq, payload in session.log:
            if payload["t"] == "MESSAGE_CREATE" and payload["d"]["id"] == message["id"]:
                return seq
        raise AssertionError(f"message {message['id']} was never dispatched")

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        conn = _GatewayConnection(ws, request.query.get("compress"))
        session: _Session | None = None
        await conn.send(
            {
                "op": 10,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                "s": None,
                "t": None,
            }
        )
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await conn.send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                session = await self._identify(conn, frame["d"])
            elif op == 6:
                session = await self._resume(conn, frame["d"])
        if session is not None and session.conn is conn:
            session.conn = None
            if not conn.closed_by_server and ws.close_code in (1000, 1001):
                self._sessions.pop(session.id, None)  # the client ended its session
        await self._notify()
        return ws

    async def _identify(self, conn: _GatewayConnection, data: Json) -> _Session | None:
        self.identifies.append(data)
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return None
        intents = int(data.get("intents", 0))
        if intents & MESSAGE_CONTENT_INTENT and not self.message_content_enabled:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return None
        session = _Session(id=f"session-{self.snowflake()}", conn=conn)
        self._sessions[session.id] = session
        ready = {
            "v": 10,
            "user": self.bot.payload() | {"verified": True, "mfa_enabled": False, "flags": 0},
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "private_channels": [],
            "relationships": [],
        }
        async with session.lock:
            for event, payload in [("READY", ready)] + [
                ("GUILD_CREATE", self._guild_create(g)) for g in self.guilds.values()
            ]:
                session.seq += 1
                frame = {"op": 0, "t": event, "s": session.seq, "d": payload}
                session.log.append((session.seq, frame))
                await conn.send(frame)
        await self._notify()
        return session

    async def _resume(self, conn: _GatewayConnection, data: Json) -> _Session | None:
        self.resumes.append(data)
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self.token:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return None
        async with session.lock:
            after = int(data.get("seq") or 0)
            if session.replay_from is not None:
                after = min(after, session.replay_from - 1)
                session.replay_from = None
            for seq, frame in session.log:
                if seq > after:
                    await conn.send(frame)
            session.conn = conn
            session.seq += 1
            resumed = {"op": 0, "t": "RESUMED", "s": session.seq, "d": {}}
            session.log.append((session.seq, resumed))
            await conn.send(resumed)
        await self._notify()
        return session

    def _guild_create(self, guild: FakeGuild) -> Json:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "unavailable": False,
            "owner_id": str(self.bot.id),
            "member_count": len(guild.members),
            "large": False,
            "roles": guild.roles,
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": guild.channels,
            "threads": guild.threads if self.threads_in_guild_create else [],
            "members": [self._member_payload(guild, self.bot)],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "joined_at": _now(),
        }

    # ----------------------------------------------------------------- REST

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path == "/gateway" or request.path.startswith("/attachments/"):
            result: web.StreamResponse = await handler(request)
            return result
        path = request.path.removeprefix("/api/v10")
        body: Any = None
        uploads: list[FakeFile] = []
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            form = await request.post()
            body = json.loads(str(form.get("payload_json", "{}")))
            body["_files"] = [k for k in form if k != "payload_json"]
            for key in body["_files"]:
                field_ = form[key]
                if isinstance(field_, web.FileField):
                    data = field_.file.read()
                    uploads.append(FakeFile(field_.filename, field_.content_type, data))
        call = RestCall(request.method, unquote(path), body)
        self.calls.append(call)
        request[_CALL] = call
        request[_FILES] = uploads
        # interaction callbacks are authorised by the interaction token, not the bot token
        needs_token = not path.startswith(("/interactions/", "/webhooks/"))
        if needs_token and request.headers.get("Authorization") != f"Bot {self.token}":
            response = _json({"message": "401: Unauthorized", "code": 0}, status=401)
        elif (limited := self._injected_limit(call)) is not None:
            response = limited
        else:
            try:
                response = await handler(request)
            except _ApiError as exc:
                response = _json({"message": exc.message, "code": exc.code}, status=exc.status)
            except web.HTTPException as exc:
                response = _json(
                    {"message": f"{exc.status}: {exc.reason}", "code": 0}, status=exc.status
                )
        call.status = response.status
        if response.status == 429:
            self.ratelimited.append(call)
        response.headers.setdefault("Via", "1.1 google")
        await self._notify()
        return response

    def _injected_limit(self, call: RestCall) -> web.Response | None:
        for rule in self._rules:
            if rule.count > 0 and rule.method == call.method and rule.path.search(call.path):
                rule.count -= 1
                return _too_many(rule.retry_after, is_global=rule.is_global)
        return None

    def _take(self, kind: str, channel_id: int) -> dict[str, str] | None:
        """Count one request against a per-channel bucket; None when it is exhausted."""
        limit, window = self.bucket_limits[kind]
        bucket = self._buckets.setdefault((kind, channel_id), _Bucket(limit, window))
        now = time.monotonic()
        if now >= bucket.reset_at:
            bucket.used, bucket.reset_at = 0, now + window
        if bucket.used >= limit:
            return None
        bucket.used += 1
        reset_after = max(bucket.reset_at - now, 0.001)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(limit - bucket.used),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"{kind}-bucket",
        }

    def _limited(self, kind: str, channel_id: int) -> web.Response | dict[str, str]:
        headers = self._take(kind, channel_id)
        if headers is not None:
            return headers
        bucket = self._buckets[(kind, channel_id)]
        return _too_many(max(bucket.reset_at - time.monotonic(), 0.001), bucket=f"{kind}-bucket")

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json(self.bot.payload() | {"verified": True, "mfa_enabled": False, "flags": 0})

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot.name,
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None},
                "verify_key": "0" * 64,
                # GATEWAY_MESSAGE_CONTENT_LIMITED: the switch on the Bot page
                "flags": (1 << 19) if self.message_content_enabled else 0,
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    def _channel(self, request: web.Request) -> Json:
        channel = self.channels.get(int(request.match_info["cid"]))
        if channel is None:
            raise _not_found("Unknown Channel", 10003)
        return channel

    def _message(self, request: web.Request) -> Json:
        self._channel(request)
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None or message["channel_id"] != request.match_info["cid"]:
            raise _not_found("Unknown Message", 10008)
        return message

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json(self._channel(request))

    async def _typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return web.Response(status=204)

    async def _create_message(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        headers = self._limited("create", channel_id)
        if isinstance(headers, web.Response):
            return headers
        body: Json = request[_CALL].json or {}
        message = self._message_payload(channel_id, self.bot, str(body.get("content") or ""), 0)
        message["allowed_mentions"] = body.get("allowed_mentions")
        message["components"] = body.get("components") or []
        message["attachments"] = [self._attachment(f) for f in request[_FILES]]
        self._store_message(message)
        await self.dispatch("MESSAGE_CREATE", message)
        return _json(message, headers=headers)

    async def _get_message(self, request: web.Request) -> web.Response:
        return _json(self._message(request))

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        headers = self._limited("edit", int(message["channel_id"]))
        if isinstance(headers, web.Response):
            return headers
        if message["author"]["id"] != str(self.bot.id):
            return _json(
                {"message": "Cannot edit a message authored by another user", "code": 50005},
                status=403,
            )
        body: Json = request[_CALL].json or {}
        if "content" in body:
            message["content"] = body["content"] or ""
            message["edited_timestamp"] = _now()
            message["allowed_mentions"] = body.get("allowed_mentions")
        if "components" in body:
            message["components"] = body["components"] or []
        if request[_FILES]:
            message["attachments"] = [
                *message["attachments"],
                *(self._attachment(f) for f in request[_FILES]),
            ]
        await self.dispatch("MESSAGE_UPDATE", message)
        return _json(message, headers=headers)

    async def _delete_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        self.messages.pop(int(message["id"]))
        self.history[int(message["channel_id"])].remove(int(message["id"]))
        await self.dispatch(
            "MESSAGE_DELETE",
            {
                "id": message["id"],
                "channel_id": message["channel_id"],
                **({"guild_id": message["guild_id"]} if "guild_id" in message else {}),
            },
        )
        return web.Response(status=204)

    async def _create_thread(self, request: web.Request) -> web.Response:
        message = self._message(request)
        parent = self.channels[int(message["channel_id"])]
        if parent["type"] != 0:
            return _json(
                {"message": "Cannot execute action on this channel type", "code": 50024}, status=400
            )
        if "thread" in message:
            return _json(
                {"message": "A thread has already been created for this message", "code": 160004},
                status=400,
            )
        body: Json = request[_CALL].json or {}
        guild = self.guilds[int(parent["guild_id"])]
        thread = {  # Discord gives a thread started from a message that message's id
            "id": message["id"],
            "type": 11,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(self.bot.id),
            "name": str(body.get("name", ""))[:100],
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration") or 1440,
                "archive_timestamp": _now(),
                "locked": False,
                "create_timestamp": _now(),
            },
        }
        self.channels[int(thread["id"])] = thread
        guild.threads.append(thread)
        message["thread"] = thread
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return _json(thread, status=201)

    async def _react(self, request: web.Request) -> web.Response:
        message = self._message(request)
        emoji = unquote(request.match_info["emoji"])
        self.reactions.setdefault(int(message["id"]), {}).setdefault(emoji, set()).add(self.bot.id)
        await self.dispatch(
            "MESSAGE_REACTION_ADD", self._reaction_payload(message, self.bot, emoji)
        )
        return web.Response(status=204)

    async def _unreact(self, request: web.Request) -> web.Response:
        message = self._message(request)
        emoji = unquote(request.match_info["emoji"])
        self.reactions.get(int(message["id"]), {}).get(emoji, set()).discard(self.bot.id)
        payload = self._reaction_payload(message, self.bot, emoji)
        payload.pop("member", None)
        await self.dispatch("MESSAGE_REACTION_REMOVE", payload)
        return web.Response(status=204)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(int(request.match_info["aid"]))
        if file is None or file.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not found")
        return await serve_in_pieces(request, file.data, file.content_type, file.serving)

    async def _put_commands(self, request: web.Request) -> web.Response:
        if int(request.match_info["aid"]) != self.application_id:
            raise _not_found("Unknown Application", 10002)
        body = request[_CALL].json
        if not isinstance(body, list):
            return _json({"message": "Invalid Form Body", "code": 50035}, status=400)
        registered = [
            {
                "id": str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "default_member_permissions": None,
                "type": 1,
                "options": [],
                "nsfw": False,
                **command,
            }
            for command in body
        ]
        self.commands = registered
        return _json(registered)

    async def _followup(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = [i for i in self.interactions.values() if i["token"] == token]
        if str(self.application_id) != request.match_info["aid"] or not found:
            raise _not_found("Unknown Webhook", 10015)
        interaction_id = int(found[0]["id"])
        callback = self.callback_for(interaction_id)
        if callback is None or callback.type != 5:
            raise _not_found("Unknown Webhook", 10015)
        body: Json = request[_CALL].json or {}
        self.followups.setdefault(interaction_id, []).append(body)
        channel_id = int(found[0]["channel_id"])
        message = self._message_payload(channel_id, self.bot, str(body.get("content") or ""), 0)
        message["flags"] = body.get("flags", 0)
        return _json(message)

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        interaction_id = int(request.match_info["iid"])
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction["token"] != request.match_info["token"]:
            raise _not_found("Unknown interaction", 10062)
        if self.callback_for(interaction_id) is not None:
            return _json(
                {"message": "Interaction has already been acknowledged.", "code": 40060},
                status=400,
            )
        body: Json = request[_CALL].json or {}
        callback = InteractionCallback(interaction_id, int(body.get("type", 0)), body.get("data"))
        self.callbacks.append(callback)
        answer: Json = {
            "interaction": {
                "id": str(interaction_id),
                "type": interaction["type"],
                "response_message_loading": callback.type == 5,
                "response_message_ephemeral": bool(
                    (callback.data or {}).get("flags", 0) & EPHEMERAL_FLAG
                ),
            }
        }
        if callback.type == 4:
            channel_id = int(interaction["channel_id"])
            content = str((callback.data or {}).get("content") or "")
            message = self._message_payload(channel_id, self.bot, content, 20)
            message["flags"] = (callback.data or {}).get("flags", 0)
            message["interaction_metadata"] = {"id": str(interaction_id), "type": 2}
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": 4, "message": message}
        return _json(answer)

    # ----------------------------------------------------------------- payloads

    def _attachment(self, file: FakeFile) -> Json:
        attachment_id = self.snowflake()
        self.files[attachment_id] = file
        url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{file.filename}"
        payload: Json = {
            "id": str(attachment_id),
            "filename": file.filename,
            "size": len(file.data) if file.declared_size is None else file.declared_size,
            "url": url,
            "proxy_url": url,
            "content_type": file.content_type,
        }
        if file.content_type.startswith("audio/"):
            payload["duration_secs"] = 1.0
            payload["waveform"] = "AAAA"
        return payload

    async def _interact(
        self, kind: int, channel_id: int, user: FakeUser, data: Json, *, message: Json | None = None
    ) -> int:
        channel = self.channels[channel_id]
        interaction_id = self.snowflake()
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": f"interaction-token-{interaction_id}",
            "version": 1,
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(channel_id),
            "channel": channel,
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {},
        }
        guild = self._guild_of(channel)
        if guild is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild_locale"] = "en-US"
            payload["member"] = self._member_payload(guild, user) | {"permissions": "0"}
            payload["context"] = 0
        else:
            payload["user"] = user.payload()
            payload["context"] = 1
        if message is not None:
            payload["message"] = message
        self.interactions[interaction_id] = payload
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    def _role_payload(self, role_id: int, name: str) -> Json:
        return {
            "id": str(role_id),
            "name": name,
            "color": 0,
            "hoist": False,
            "position": 0,
            "permissions": "0",
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def _guild_of(self, channel: Json) -> FakeGuild | None:
        guild_id = channel.get("guild_id")
        return self.guilds.get(int(guild_id)) if guild_id else None

    def _member_payload(self, guild: FakeGuild, user: FakeUser, *, with_user: bool = True) -> Json:
        member: Json = {
            "roles": [str(r) for r in guild.members.get(user.id, [])],
            "joined_at": _now(),
            "nick": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        if with_user:
            member["user"] = user.payload()
        return member

    def _with_member(self, user: FakeUser, message: Json) -> Json:
        guild = self._guild_of(self.channels[int(message["channel_id"])])
        payload = user.payload()
        if guild is not None:
            payload["member"] = self._member_payload(guild, user, with_user=False)
        return payload

    def _message_payload(
        self, channel_id: int, author: FakeUser, content: str, message_type: int
    ) -> Json:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise AssertionError(f"unknown channel {channel_id}")
        message: Json = {
            "id": str(self.snowflake()),
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": message_type,
            "flags": 0,
        }
        guild = self._guild_of(channel)
        if guild is not None:
            message["guild_id"] = str(guild.id)
            message["member"] = self._member_payload(guild, author, with_user=False)
        return message

    def _store_message(self, message: Json) -> None:
        channel_id = int(message["channel_id"])
        self.messages[int(message["id"])] = message
        self.history.setdefault(channel_id, []).append(int(message["id"]))
        self.channels[channel_id]["last_message_id"] = message["id"]
        if self.channels[channel_id]["type"] == 11:
            self.channels[channel_id]["message_count"] += 1

    def _reaction_payload(self, message: Json, user: FakeUser, emoji: str) -> Json:
        payload: Json = {
            "user_id": str(user.id),
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "message_author_id": message["author"]["id"],
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if "guild_id" in message:
            guild = self.guilds[int(message["guild_id"])]
            payload["guild_id"] = message["guild_id"]
            payload["member"] = self._member_payload(guild, user)
        return payload


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # exactly "application/json": discord.py parses nothing else (no charset suffix)
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", "Via": "1.1 google", **(headers or {})},
    )


def _too_many(
    retry_after: float, *, is_global: bool = False, bucket: str = "injected"
) -> web.Response:
    headers = {
        "Retry-After": str(max(1, round(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
        "code": 0,
    }
    return _json(body, status=429, headers=headers)


class _ApiError(Exception):
    """An error answer in Discord's shape (``{"message", "code"}``)."""

    def __init__(self, status: int, message: str, code: int) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _not_found(message: str, code: int) -> _ApiError:
    return _ApiError(404, message, code)


__all__ = [
    "EPHEMERAL_FLAG",
    "VOICE_MESSAGE_FLAG",
    "FakeDiscord",
    "FakeFile",
    "FakeGuild",
    "FakeUser",
    "InteractionCallback",
    "RestCall",
]
