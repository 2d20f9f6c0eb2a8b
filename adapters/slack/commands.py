"""The ``/dify`` slash command: ``new``, ``status`` and ``help``, answered ephemerally.

Slack sends a slash command with its channel but never with the thread it
was typed in, so in a channel the command speaks of the channel's most
recent thread (as far as this process has seen) and says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_bridge.core.bridge import Bridge
from dify_bridge.dify.apps import DEFAULT_APP, DifyApp
from dify_bridge.errors import DifyError

from .events import text_field
from .format import escape_mrkdwn

__all__ = ["COMMAND", "SlackCommands", "SlashCommand"]

log = logging.getLogger(__name__)

COMMAND = "/dify"
APP_NAME_TIMEOUT = 2.0
"""Seconds ``status`` waits for the app's name: Slack wants the ack within 3 s."""
MAX_CHANNELS = 10_000

USAGE = (
    "*/dify* talks to the assistant:\n"
    "• `/dify new`: start a fresh conversation\n"
    "• `/dify status`: which assistant and conversation are in use\n"
    "• `/dify help`: this message\n"
    "Mention me in a channel to ask a question; I answer in a thread."
)
NEW_IN_DM = "Starting fresh: your next message here begins a new conversation."
NEW_IN_CHANNEL = (
    "Each thread is its own conversation, so your next mention of me in this channel "
    "starts a fresh one in a new thread. Replies inside an existing thread continue "
    "that thread's conversation."
)
NOT_HERE = "I am not set up to answer here."
THREAD_NOTE = (
    "_Slack does not tell me which thread a command was typed in; "
    "each thread is its own conversation._"
)


@dataclass(frozen=True)
class SlashCommand:
    """The fields of a slash command payload the bot uses."""

    team_id: str
    channel: str
    user: str
    text: str
    is_dm: bool

    @classmethod
    def parse(cls, command: Mapping[str, Any]) -> SlashCommand:
        """Raises :class:`.slack_events.MalformedPayload` for fields that are not text."""
        channel = text_field(command.get("channel_id"), "channel_id")
        return cls(
            team_id=text_field(command.get("team_id"), "team_id"),
            channel=channel,
            user=text_field(command.get("user_id"), "user_id"),
            text=" ".join(text_field(command.get("text"), "text").split()),
            is_dm=channel.startswith("D") or command.get("channel_name") == "directmessage",
        )

    @property
    def dm_thread_key(self) -> str:
        """The conversation of a DM's top-level messages (see ``UserMessage.thread_key``)."""
        return f"slack:{self.team_id}:{self.channel}:dm"

    @property
    def route_scopes(self) -> tuple[str, ...]:
        return (f"slack:{self.channel}", f"slack:{self.team_id}")


class SlackCommands:
    """Answers ``/dify``; remembers each channel's most recent thread for ``status``."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge
        self._recent: dict[str, str] = {}
        self._app_names: dict[str, str] = {}

    def saw_thread(self, channel: str, thread_key: str) -> None:
        """Called for every message the bot answers."""
        if len(self._recent) >= MAX_CHANNELS:
            self._recent.clear()
        self._recent[channel] = thread_key

    async def reply(self, command: SlashCommand) -> str:
        """The ephemeral text that answers ``command``."""
        word = command.text.split(" ", 1)[0].lower()
        if word == "new":
            return await self._new(command)
        if word == "status":
            return await self._status(command)
        return USAGE

    async def _new(self, command: SlashCommand) -> str:
        if not command.is_dm:
            return NEW_IN_CHANNEL
        await self._bridge.store.forget_thread(command.dm_thread_key)
        log.info("conversation of %s forgotten on request", command.dm_thread_key)
        return NEW_IN_DM

    async def _status(self, command: SlashCommand) -> str:
        key = command.dm_thread_key if command.is_dm else self._recent.get(command.channel)
        record = await self._bridge.store.get_thread(key) if key else None
        apps = self._bridge.apps
        app = apps.get(record.app) if record else apps.for_scopes(command.route_scopes)
        lines = [f"Assistant: *{escape_mrkdwn(await self._app_name(app))}*"]
        if command.is_dm:
            lines.append(
                f"Conversation: `{record.conversation_id}`"
                if record and record.conversation_id
                else "No conversation yet: your next message starts one."
            )
            return "\n".join(lines)
        if record and record.conversation_id:
            lines.append(
                f"Most recent thread in this channel: conversation `{record.conversation_id}`"
            )
        else:
            lines.append("No conversation in this channel yet: mention me to start one.")
        lines.append(THREAD_NOTE)
        return "\n".join(lines)

    async def _app_name(self, app: DifyApp) -> str:
        """The app's name from ``GET /info`` (asked once per app), else its route name."""
        name = self._app_names.get(app.name)
        if name is None:
            try:
                info = await asyncio.wait_for(app.client.info(), timeout=APP_NAME_TIMEOUT)
            except (DifyError, TimeoutError) as exc:
                log.info("no name for app %r: %s", app.name, exc)
                return app.name
            found = info.get("name")
            name = found.strip() if isinstance(found, str) and found.strip() else app.name
            self._app_names[app.name] = name
        return name if app.name == DEFAULT_APP else f"{name} (route {app.name})"
