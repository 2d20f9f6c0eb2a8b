"""What one fake Discord holds, the payloads it builds from it, and dispatching events."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable

from aiohttp import web

from tests.fakes.discord.records import (
    DISCORD_EPOCH_MS,
    REPLY,
    THREAD_STARTER_MESSAGE,
    Bucket,
    FakeFile,
    FakeGuild,
    FakeUser,
    InteractionCallback,
    Json,
    RateLimitRule,
    RestCall,
    now,
)
from tests.fakes.discord.sessions import Session
from tests.fakes.discord.shards import guild_of, receives


class DiscordState:
    """Guilds, channels, messages and gateway sessions; every payload Discord sends."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_name: str = "dify-bot",
        message_content_enabled: bool = True,
        heartbeat_interval_ms: int = 41_250,
        threads_in_guild_create: bool = True,
        guilds_per_shard: int | None = None,
    ) -> None:
        self.token = token
        self.message_content_enabled = message_content_enabled
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.threads_in_guild_create = threads_in_guild_create
        self.guilds_per_shard = guilds_per_shard
        """More guilds than this on one session: closed with 4011 (sharding required)."""
        self._counter = itertools.count(1)
        self.bot = FakeUser(self.snowflake(), bot_name, bot=True)
        self.users: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.application_id = self.snowflake()
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, Json] = {}
        self.messages: dict[int, Json] = {}
        self.history: dict[int, list[int]] = {}
        self.reactions: dict[int, dict[str, set[int]]] = {}
        self.hidden_channels: set[int] = set()
        """Channels the bot may not view: reading their history is 403 Missing Access."""
        self.without_history: set[int] = set()
        """Channels where the bot lacks Read Message History: their history reads empty."""
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
        self.duplicate_identifies: list[tuple[int, int] | None] = []
        """Shards IDENTIFYed while another session on them was connected."""
        self.gateway_queries: list[dict[str, str]] = []
        self.ratelimited: list[RestCall] = []
        self.bucket_limits: dict[str, tuple[int, float]] = {
            "create": (5, 5.0),
            "edit": (5, 5.0),
        }
        self._buckets: dict[tuple[str, int], Bucket] = {}
        self._rules: list[RateLimitRule] = []
        self.drops: list[tuple[str, re.Pattern[str], str]] = []
        """Requests whose connection is dropped without an answer (method, path, text)."""
        self._sessions: dict[str, Session] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

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

    def snowflake(self) -> int:
        now_ms = int(time.time() * 1000)
        return ((now_ms - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0x3FFFFF)

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

    async def dispatch(self, event: str, data: Json) -> None:
        """Send one DISPATCH to every session of the event's shard (kept for RESUME)."""
        guild_id = guild_of(event, data, self.channels)
        for session in list(self._sessions.values()):
            if not receives(session.shard, guild_id):
                continue
            async with session.lock:
                session.seq += 1
                payload = {"op": 0, "t": event, "s": session.seq, "d": data}
                session.log.append((session.seq, payload))
                if session.conn is not None:
                    await session.conn.send(payload)
        await self._notify()

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
            "joined_at": now(),
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
            "timestamp": now(),
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

    def served(self, message: Json) -> Json:
        """A message as Discord sends it: a reply or thread starter message with the message
        it points at (one level deep; ``None`` once that message is deleted)."""
        reference = message.get("message_reference")
        if message["type"] not in (REPLY, THREAD_STARTER_MESSAGE) or not reference:
            return message
        referenced = self.messages.get(int(reference["message_id"]))
        return message | {"referenced_message": referenced}

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
