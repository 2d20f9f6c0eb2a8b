"""Discord: a mention opens a thread, the thread is the conversation, 👍/👎 rate answers.

The adapter translates Discord events for the bridge and nothing more:

* messages (mentions, followed threads, DMs): :mod:`.messages`
* reactions (👍/👎 feedback, 🛑 stop): :mod:`.reactions`
* button clicks (Stop, 👍/👎, suggested questions): :mod:`.interactions`
* the slash commands ``/new`` and ``/status``: :mod:`.commands`
* channels, threads, conversations and the allow-lists: :mod:`.places`
* showing an answer: :mod:`.sink`

Connecting (and pointing discord.py at ``DISCORD_API_URL``/``DISCORD_GATEWAY_URL``)
is :mod:`dify_bridge.adapters.discord.client`'s job. Whatever a handler does not
handle itself ends at the event's task boundary, :meth:`BridgeClient.on_error`.
"""

from __future__ import annotations

import logging

import discord

from dify_bridge.adapters.discord.client import (
    PRIVILEGED_INTENTS_HELP,
    BridgeClient,
    DiscordConnection,
    DiscordUnavailable,
)
from dify_bridge.adapters.discord.commands import CommandHandler, register
from dify_bridge.adapters.discord.interactions import ButtonHandler
from dify_bridge.adapters.discord.messages import Asker, MessageHandler
from dify_bridge.adapters.discord.places import Places, policy_for
from dify_bridge.adapters.discord.reactions import ReactionHandler
from dify_bridge.adapters.discord.sink import SuggestedQuestions
from dify_bridge.config import DiscordSettings
from dify_bridge.core import Bridge

__all__ = ["PRIVILEGED_INTENTS_HELP", "DiscordAdapter", "DiscordUnavailable"]

log = logging.getLogger(__name__)


class DiscordAdapter:
    """Connects one bot to the gateway and answers through the bridge."""

    name = "discord"

    def __init__(
        self,
        settings: DiscordSettings,
        bridge: Bridge,
        *,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        self._connection = DiscordConnection(
            settings, self, ready_timeout=ready_timeout, guild_ready_timeout=guild_ready_timeout
        )
        places = Places(self._client, policy_for(settings))
        asker = Asker(
            self._client,
            bridge,
            reaction_hints=settings.reaction_hints,
            questions=SuggestedQuestions(),
        )
        self._messages = MessageHandler(self._client, bridge, places, asker)
        self._reactions = ReactionHandler(self._client, bridge, places)
        self._buttons = ButtonHandler(self._client, bridge, places, asker)
        self._commands = CommandHandler(bridge, places)

    @property
    def client(self) -> BridgeClient:
        return self._client()

    def _client(self) -> BridgeClient:
        client = self._connection.client
        if client is None:
            raise RuntimeError("the Discord adapter is not started")
        return client

    @property
    def healthy(self) -> bool:
        """Started, with the gateway websocket open (discord.py reconnects it)."""
        ws = self._connection.client.ws if self._connection.client is not None else None
        return ws is not None and ws.open

    async def start(self) -> None:
        """Log in, connect, register the slash commands; return once READY has arrived."""
        client = await self._connection.start()
        await register(client.tree)

    async def stop(self) -> None:
        await self._connection.stop()

    async def on_message(self, message: discord.Message) -> None:
        if self._connection.client is None:
            return  # stopping: events still in flight are dropped
        try:
            await self._messages.handle(message)
        except discord.Forbidden as exc:
            log.warning(
                "Discord refused a call for message %s (%s): the bot needs View Channel, "
                "Send Messages, Create Public Threads and Send Messages in Threads there",
                message.id,
                exc,
            )
        except discord.HTTPException as exc:
            log.warning("Discord refused a call for message %s: %s", message.id, exc)

    async def on_reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        if self._connection.client is None:
            return
        await self._reactions.handle(payload, added=added)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Button clicks; slash commands reach :meth:`on_command` through the command tree."""
        if self._connection.client is None:
            return
        if interaction.type is not discord.InteractionType.component:
            return
        try:
            await self._buttons.handle(interaction)
        except discord.HTTPException as exc:
            log.warning("Discord refused a call for interaction %s: %s", interaction.id, exc)

    async def on_command(self, interaction: discord.Interaction, name: str) -> None:
        await self._commands.run(interaction, name)
