"""The ``/dify`` slash command: ``new``, ``status`` and ``help``, answered in its ack.

What each command does and says is the core's (:meth:`Bridge.command`);
here the payload becomes a :class:`CommandRequest` and the Markdown reply
becomes mrkdwn, shown only to the person who typed it, within Slack's 3 s.
Slack sends a slash command with its channel but never with the thread it
was typed in, so in a channel ``status`` speaks of the channel's most recent
thread, and says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck

from dify_bridge.core import Bridge, CommandRequest, notices
from dify_bridge.keys import ThreadKey

from .access import SlackAccess
from .events import BotIdentity
from .format import markdown_to_mrkdwn
from .messages import route_scopes
from .payload import MalformedPayload, ignored, text_field

__all__ = ["COMMAND", "SPELLING", "THREAD_NOTE", "SlackCommands", "SlashCommand"]

COMMAND = "/dify"
SPELLING = f"{COMMAND} "
"""How the commands are typed, for the help text: ``/dify new``."""
THREAD_NOTE = "_Slack does not tell me which thread a command was typed in._"


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
        """Raises :class:`~.payload.MalformedPayload` for fields that are not text."""
        channel = text_field(command.get("channel_id"), "channel_id")
        return cls(
            team_id=text_field(command.get("team_id"), "team_id"),
            channel=channel,
            user=text_field(command.get("user_id"), "user_id"),
            text=" ".join(text_field(command.get("text"), "text").split()),
            is_dm=channel.startswith("D") or command.get("channel_name") == "directmessage",
        )

    def request(self) -> CommandRequest:
        """The command for the core: in a DM its conversation, else its channel."""
        # a DM's top-level messages are one conversation; a channel is the part of
        # its threads' keys before the thread
        place = ThreadKey.slack(self.team_id, self.channel, None)
        return CommandRequest(
            name=self.text.split(" ", 1)[0],
            spelling=SPELLING,
            thread_key=str(place) if self.is_dm else "",
            channel="" if self.is_dm else place.channel,
            private=self.is_dm,
            route_scopes=route_scopes(self.team_id, self.channel),
        )


class SlackCommands:
    """Answers ``/dify`` ephemerally, in the command's ack."""

    def __init__(
        self,
        bridge: Bridge,
        *,
        access: SlackAccess,
        identity: Callable[[str], Awaitable[BotIdentity]],
    ) -> None:
        self._bridge = bridge
        self._access = access
        self._identity = identity

    async def on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        try:
            parsed = SlashCommand.parse(command)
        except MalformedPayload as exc:
            ignored(command, exc)
            await ack()
            return
        if not parsed.team_id:
            parsed = dataclasses.replace(parsed, team_id=(await self._identity("")).team_id)
        if not self._access.allows(parsed.channel, parsed.user):
            await ack(text=notices.NOT_HERE, response_type="ephemeral")
            return
        request = parsed.request()
        reply = await self._bridge.command(request)
        if request.channel and request.name.lower() == "status":
            reply = f"{reply}\n{THREAD_NOTE}"
        await ack(text=markdown_to_mrkdwn(reply), response_type="ephemeral")
