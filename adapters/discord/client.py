"""Connecting discord.py to Discord, or to whatever ``DISCORD_API_URL``/``_GATEWAY_URL`` name.

discord.py has no option for the REST base or the gateway, only the class
attributes ``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``; :meth:`DiscordConnection.start`
sets both before logging in. That is process-wide, which is fine: a dify-bridge
process runs one Discord bot with one URL pair, so every client in it wants the
same values (tests likewise run one fake Discord at a time). Reconnects go to
READY's ``resume_gateway_url``, as with the real Discord.

discord.py runs every event handler as a task of its own and hands what one
raises to :meth:`BridgeClient.on_error`: that is the task boundary of one
Discord event (slash commands have theirs in
:meth:`~dify_bridge.adapters.discord.commands.BridgeCommands.on_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
import discord
import yarl

from dify_bridge.adapters.discord.commands import BridgeCommands
from dify_bridge.config import DiscordSettings
from dify_bridge.core import BridgeError, ConfigError, SinkError

log = logging.getLogger(__name__)

PRIVILEGED_INTENTS_HELP = (
    "Discord refused the Message Content intent (close code 4014). Enable it: "
    "https://discord.com/developers/applications -> your application -> Bot -> "
    "Privileged Gateway Intents -> MESSAGE CONTENT INTENT -> Save, then restart dify-bridge."
)


class DiscordUnavailable(BridgeError):
    """The Discord gateway or API could not be reached, or READY never came."""


IdentifyHook = Callable[[int], Awaitable[None]]
"""Awaited before a shard IDENTIFYs (its shard id)."""


class DiscordEvents(Protocol):
    """What the client hands on: messages, raw reactions (they work with an empty cache),
    interactions (button clicks) and slash commands."""

    async def on_message(self, message: discord.Message) -> None: ...

    async def on_reaction(
        self, payload: discord.RawReactionActionEvent, *, added: bool
    ) -> None: ...

    async def on_interaction(self, interaction: discord.Interaction) -> None: ...

    async def on_command(self, interaction: discord.Interaction, name: str) -> None: ...


def point_discord_py_at(api_url: str, gateway_url: str) -> None:
    """Aim every discord.py client in this process at ``api_url`` and ``gateway_url``."""
    discord.http.Route.BASE = api_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def bot_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.guild_reactions = True
    intents.dm_reactions = True
    intents.message_content = True  # privileged: enabled in the developer portal
    return intents


class BridgeClient(discord.Client):
    """A discord.py client that sends nothing that pings and hands its events on.

    ``tree`` holds the slash commands; :meth:`DiscordConnection.start` does not
    sync them (the adapter does, once READY has named the application).
    """

    def __init__(
        self,
        events: DiscordEvents,
        *,
        guild_ready_timeout: float,
        shard_id: int | None = None,
        shard_count: int | None = None,
        before_identify: IdentifyHook | None = None,
    ) -> None:
        super().__init__(
            shard_id=shard_id,
            shard_count=shard_count,
            intents=bot_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            chunk_guilds_at_startup=False,
            max_messages=None,
        )
        self._events = events
        self._before_identify = before_identify
        self.tree = BridgeCommands(self, self._on_command)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """IDENTIFYs of one bot are rationed (one per 5 s per ``max_concurrency`` bucket):
        with a hook, the shards of this process take turns through it."""
        if self._before_identify is None:
            await super().before_identify_hook(shard_id, initial=initial)
        else:
            await self._before_identify(shard_id or 0)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """The task boundary of one event: logged once (with the trace when unexpected)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, SinkError | discord.HTTPException):
            log.warning("Discord event %s not handled: %s", event_method, exc)
        else:
            log.exception("Discord event %s not handled", event_method)

    async def on_message(self, message: discord.Message) -> None:
        await self._events.on_message(message)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._events.on_reaction(payload, added=True)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._events.on_reaction(payload, added=False)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self._events.on_interaction(interaction)

    async def _on_command(self, interaction: discord.Interaction, name: str) -> None:
        await self._events.on_command(interaction, name)


async def _sharding_advice(settings: DiscordSettings) -> str:
    """What to do about close code 4011, with the shard count Discord recommends
    (``GET /gateway/bot``; the closed client's own HTTP session is gone)."""
    advice = "is too low: Discord requires sharding for this bot's guilds (close code 4011)"
    url = settings.api_url.rstrip("/") + "/gateway/bot"
    headers = {"Authorization": f"Bot {settings.bot_token.value}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(url, headers=headers) as response,
        ):
            shards = int((await response.json(content_type=None))["shards"])
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError, TypeError):
        return advice
    return f"{advice}; it recommends {shards}: set DISCORD_SHARD_COUNT={shards}"


class DiscordConnection:
    """Logs in, keeps the gateway connected in a background task, closes."""

    def __init__(
        self,
        settings: DiscordSettings,
        events: DiscordEvents,
        *,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
        shard: tuple[int, int] | None = None,
        before_identify: IdentifyHook | None = None,
    ) -> None:
        self._settings = settings
        self._events = events
        self.shard = shard
        """``(shard_id, shard_count)``, or None for one unsharded session."""
        self._before_identify = before_identify
        self._ready_timeout = ready_timeout
        self._guild_ready_timeout = guild_ready_timeout
        self.client: BridgeClient | None = None
        self._gateway: asyncio.Task[None] | None = None

    async def start(self) -> BridgeClient:
        """Return the client once READY (and the guilds) arrived; raise a clear error if not."""
        settings = self._settings
        point_discord_py_at(settings.api_url, settings.gateway_url)
        shard_id, shard_count = self.shard if self.shard is not None else (None, None)
        client = BridgeClient(
            self._events,
            guild_ready_timeout=self._guild_ready_timeout,
            shard_id=shard_id,
            shard_count=shard_count,
            before_identify=self._before_identify,
        )
        self.client = client
        try:
            await client.login(settings.bot_token.value)
        except discord.LoginFailure:
            await self.stop()
            raise ConfigError(
                "DISCORD_BOT_TOKEN", "was rejected by Discord (401); copy it from the Bot page"
            ) from None
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            await self.stop()
            raise DiscordUnavailable(f"cannot reach Discord at {settings.api_url}: {exc}") from exc
        gateway = self._gateway = asyncio.create_task(self._run(client), name="discord-gateway")
        ready = asyncio.create_task(client.wait_until_ready())
        await asyncio.wait(
            {ready, gateway}, timeout=self._ready_timeout, return_when="FIRST_COMPLETED"
        )
        if ready.done():
            log.info(
                "connected to Discord as %s (%d guilds%s)",
                client.user,
                len(client.guilds),
                f", shard {shard_id}/{shard_count}" if self.shard is not None else "",
            )
            return client
        ready.cancel()
        failure = gateway.exception() if gateway.done() else None
        if isinstance(failure, discord.ConnectionClosed) and failure.code == 4011:
            advice = await _sharding_advice(settings)
            await self.stop()
            raise ConfigError("DISCORD_SHARD_COUNT", advice) from None
        await self.stop()
        if isinstance(failure, discord.PrivilegedIntentsRequired):
            raise ConfigError("DISCORD_BOT_TOKEN", PRIVILEGED_INTENTS_HELP) from None
        if failure is not None:
            raise DiscordUnavailable(f"the Discord gateway closed: {failure}") from failure
        raise DiscordUnavailable(
            f"no READY from the Discord gateway at {settings.gateway_url} "
            f"within {self._ready_timeout:.0f} s"
        )

    @property
    def alive(self) -> bool:
        """False once the gateway has closed for good (or the connection was stopped)."""
        return self._gateway is not None and not self._gateway.done()

    async def stop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.close()
        task, self._gateway = self._gateway, None
        if task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)

    async def _run(self, client: discord.Client) -> None:
        try:
            await client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            log.error(PRIVILEGED_INTENTS_HELP)
            raise
        except discord.ConnectionClosed as exc:
            log.error("the Discord gateway closed the connection for good (code %s)", exc.code)
            raise


__all__ = [
    "PRIVILEGED_INTENTS_HELP",
    "BridgeClient",
    "DiscordConnection",
    "DiscordEvents",
    "DiscordUnavailable",
    "IdentifyHook",
    "bot_intents",
    "point_discord_py_at",
]
