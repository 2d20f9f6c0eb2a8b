"""The slash commands ``/new`` and ``/status``: registered with discord.py's command tree.

What they do and say is the bridge's (:meth:`dify_bridge.core.Bridge.command`);
here they are registered (one bulk overwrite of the global commands, usable in
servers and in the bot's DMs), deferred at once (the answer may wait on Discord
and Dify, Discord allows 3 s) and answered privately with a follow-up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from dify_bridge.adapters.discord.places import Places
from dify_bridge.adapters.discord.sink import NO_MENTIONS
from dify_bridge.core import Bridge, CommandRequest, notices

__all__ = ["COMMANDS", "BridgeCommands", "CommandHandler", "register"]

log = logging.getLogger(__name__)

COMMANDS: tuple[tuple[str, str], ...] = (
    ("new", "Start a fresh conversation with the assistant"),
    ("status", "Show which assistant and conversation this place uses"),
)
"""Name and description of each command, in the order they are registered."""

RunCommand = Callable[[discord.Interaction, str], Awaitable[None]]


class BridgeCommands(app_commands.CommandTree[discord.Client]):
    """``/new`` and ``/status``, in servers and in the bot's DMs (guild install)."""

    def __init__(self, client: discord.Client, run: RunCommand) -> None:
        super().__init__(
            client,
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
            allowed_installs=app_commands.AppInstallationType(guild=True),
        )
        for name, description in COMMANDS:
            self.add_command(
                app_commands.Command(name=name, description=description, callback=_runs(run, name))
            )

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """The task boundary of one command: one log line."""
        if isinstance(error, app_commands.CommandNotFound):
            log.info("ignoring the unknown command %r", error.name)
            return
        log.error("command in channel %s not handled", interaction.channel_id, exc_info=error)


def _runs(run: RunCommand, name: str) -> Callable[[discord.Interaction], Coroutine[Any, Any, None]]:
    async def callback(interaction: discord.Interaction) -> None:
        await run(interaction, name)

    callback.__name__ = callback.__qualname__ = name
    return callback


async def register(tree: app_commands.CommandTree[discord.Client]) -> None:
    """Overwrite the global commands with the tree's (``PUT /applications/{id}/commands``)."""
    try:
        await tree.sync()
    except app_commands.MissingApplicationID:
        log.warning("Discord named no application id: /new and /status not registered")
    except discord.HTTPException as exc:
        log.warning("could not register the /new and /status commands: %s", exc)


class CommandHandler:
    def __init__(self, bridge: Bridge, places: Places) -> None:
        self._bridge = bridge
        self._places = places

    async def run(self, interaction: discord.Interaction, name: str) -> None:
        try:
            await self._run(interaction, name)
        except discord.HTTPException as exc:
            log.warning("Discord refused a call for command %s: %s", interaction.id, exc)

    async def _run(self, interaction: discord.Interaction, name: str) -> None:
        # deferred at once: the answer below may wait on Discord and Dify, Discord only 3 s
        await interaction.response.defer(ephemeral=True)
        try:
            conversation = await self._places.conversation_of(interaction)
        except discord.HTTPException as exc:  # e.g. no View Channel there: still answer
            log.info("command in channel %s: %s", interaction.channel_id, exc)
            conversation = None
        if conversation is None:
            text = notices.NOT_HERE
        else:
            request = CommandRequest(
                name,
                spelling="/",
                thread_key=str(conversation.key),
                private=conversation.guild_id is None,
                route_scopes=conversation.scopes,
            )
            text = await self._bridge.command(request)
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
