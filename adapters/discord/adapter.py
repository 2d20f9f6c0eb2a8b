"""Discord: a mention opens a thread, the thread is the conversation, 👍/👎 rate answers.

The adapter translates Discord events for the bridge and nothing more:

* messages (mentions, followed threads, DMs): :mod:`.messages`
* reactions (👍/👎 feedback, 🛑 stop): :mod:`.reactions`
* button clicks (Stop, 👍/👎, suggested questions): :mod:`.interactions`
* a workflow's Human Input forms (buttons, a modal): :mod:`.forms`
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
from dify_bridge.adapters.discord.forms import DiscordForms
from dify_bridge.adapters.discord.interactions import ButtonHandler
from dify_bridge.adapters.discord.messages import Asker, MessageHandler
from dify_bridge.adapters.discord.places import Places, policy_for
from dify_bridge.adapters.discord.reactions import ReactionHandler
from dify_bridge.adapters.discord.shards import IdentifyGate, ShardKeeper
from dify_bridge.adapters.discord.sink import SuggestedQuestions
from dify_bridge.adapters.discord.takeover import mark_left_answer
from dify_bridge.config import DiscordSettings
from dify_bridge.core import Bridge, LeftAnswer, SinkError

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
        self._settings = settings
        self._ready_timeout = ready_timeout
        self._guild_ready_timeout = guild_ready_timeout
        self._identify = IdentifyGate()
        self._bridge = bridge
        self._keeper: ShardKeeper | None = None
        self._running = False
        self._registered = False
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
        self._forms = DiscordForms(self._client, bridge, places, asker)
        self._commands = CommandHandler(bridge, places)
        bridge.in_flight.mark_with("discord", self)

    @property
    def client(self) -> BridgeClient:
        return self._client()

    @property
    def standing_by(self) -> bool:
        """True while every shard is held by another replica."""
        return self._keeper is None or self._keeper.standing_by

    def shards(self) -> list[int]:
        """The shard ids this process holds."""
        return sorted(self._keeper.connections) if self._keeper is not None else []

    def _client(self) -> BridgeClient:
        """Any connected shard's client: REST calls do not depend on the shard."""
        connections = self._keeper.connections if self._keeper is not None else {}
        for connection in connections.values():
            if connection.client is not None:
                return connection.client
        raise RuntimeError("the Discord adapter holds no shard")

    @property
    def healthy(self) -> bool:
        """Started, and every shard it holds has its gateway websocket open (discord.py
        reconnects it); a standby that holds none is healthy."""
        keeper = self._keeper
        if keeper is None:
            return False
        for connection in keeper.connections.values():
            ws = connection.client.ws if connection.client is not None else None
            if ws is None or not ws.open:
                return False
        return True

    @property
    def can_mark(self) -> bool:
        """A gateway is connected here (a replica standing by leaves marks to others)."""
        return self._keeper is not None and bool(self._keeper.connections)

    async def mark_interrupted(self, answer: LeftAnswer, notice: str) -> None:
        """An answer a replica that died left in flight: ended with ``notice``."""
        if self._keeper is None or not self._keeper.connections:
            raise SinkError("Discord edit", "no gateway connected here yet")
        await mark_left_answer(self.client, answer, notice)

    async def start(self) -> None:
        """Claim shards and connect them (READY each), or stand by; then keep trying."""
        self._running = True
        claims = self._bridge.shard_claims("discord")
        self._keeper = ShardKeeper(self._settings.shard_count, claims, self._connect)
        await self._keeper.start()

    async def stop(self) -> None:
        self._running = False
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            await keeper.stop()

    async def _connect(self, shard_id: int) -> DiscordConnection:
        """Log in, connect one shard, register the slash commands once; READY has arrived."""
        count = self._settings.shard_count
        connection = DiscordConnection(
            self._settings,
            self,
            ready_timeout=self._ready_timeout,
            guild_ready_timeout=self._guild_ready_timeout,
            shard=(shard_id, count) if count > 1 else None,
            before_identify=self._identify,
        )
        client = await connection.start()
        if not self._registered:
            self._registered = True
            await register(client.tree)
        return connection

    async def on_message(self, message: discord.Message) -> None:
        if not self._running:
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
        if not self._running:
            return
        await self._reactions.handle(payload, added=added)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Button clicks and form modals; slash commands reach :meth:`on_command` through
        the command tree."""
        if not self._running:
            return
        kinds = (discord.InteractionType.component, discord.InteractionType.modal_submit)
        if interaction.type not in kinds:
            return
        try:
            if interaction.type is discord.InteractionType.modal_submit:
                if self._forms.handles(interaction):
                    await self._forms.on_submit(interaction)
            elif self._forms.handles(interaction):
                await self._forms.on_click(interaction)
            else:
                await self._buttons.handle(interaction)
        except discord.HTTPException as exc:
            log.warning("Discord refused a call for interaction %s: %s", interaction.id, exc)

    async def on_command(self, interaction: discord.Interaction, name: str) -> None:
        await self._commands.run(interaction, name)
