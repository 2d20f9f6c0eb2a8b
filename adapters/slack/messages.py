"""Mentions, DMs and thread replies: which ones the bot answers, and the answer.

- A mention in a channel is answered in a thread under that message; later
  messages in a thread the bot follows (:meth:`Bridge.follows`) continue
  without a mention.
- A mention inside a thread the bot was not in brings the thread's earlier
  messages on that first turn (:mod:`.context`, ``SLACK_THREAD_CONTEXT``).
- A DM is one conversation per DM channel (a DM thread is its own one).
- An audio clip or audio file becomes the question through the core's voice
  step; the thread shows what was heard (``🎙️ "…"``) or why it could not be used.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dify_bridge.core import Bridge, Incoming, MessageKey

from .access import SlackAccess
from .assistant import SlackAssistant, route_scopes
from .budgets import WorkspaceBudgets
from .context import thread_context
from .directory import SlackDirectory
from .events import BotIdentity, UserMessage, parse_message
from .files import SlackFiles
from .payload import MalformedPayload, ignored
from .sink import SlackSink
from .streaming import SlackStreamSink
from .workspaces import SlackWorkspaces, team_of

__all__ = ["SlackMessages", "route_scopes"]

log = logging.getLogger(__name__)


class SlackMessages:
    """``app_mention`` and ``message`` events, turned into answers in their threads."""

    def __init__(
        self,
        bridge: Bridge,
        workspaces: SlackWorkspaces,
        *,
        access: SlackAccess,
        budgets: WorkspaceBudgets,
        directory: SlackDirectory,
        files: SlackFiles,
        identity: Callable[[str], Awaitable[BotIdentity]],
        streaming: bool = True,
        thread_context: bool = True,
        assistant: SlackAssistant | None = None,
    ) -> None:
        self._assistant = assistant or SlackAssistant(bridge, workspaces)
        self._streaming = streaming
        self._thread_context = thread_context
        self._bridge = bridge
        self._workspaces = workspaces
        self._access = access
        self._budgets = budgets
        self._directory = directory
        self._files = files
        self._identity = identity

    async def on_mention(self, body: dict[str, Any]) -> None:
        message = await self._parse(body)
        if message is not None and self._access.allows(message.channel, message.user):
            await self.answer(message, context=await self._joining_context(message))

    async def _joining_context(self, message: UserMessage) -> str:
        """A mention in a thread the bot is not in yet: the thread's earlier messages."""
        if (
            not self._thread_context
            or message.is_dm
            or message.thread_ts is None
            or await self._bridge.follows(message.thread_key)
        ):
            return ""
        bot = await self._identity(message.team_id)
        return await thread_context(
            self._workspaces.client(message.team_id),
            self._directory,
            team_id=message.team_id,
            channel=message.channel,
            thread_ts=message.thread_ts,
            before_ts=message.ts,
            bot_user_id=bot.user_id,
        )

    async def on_message(self, body: dict[str, Any]) -> None:
        message = await self._parse(body)
        if message is None or not self._access.allows(message.channel, message.user):
            return
        # in channels a mention of a new thread arrives as app_mention; here only followed ones
        if not message.is_dm and (
            message.thread_ts is None or not await self._bridge.follows(message.thread_key)
        ):
            return
        await self.answer(message)

    async def _parse(self, body: dict[str, Any]) -> UserMessage | None:
        bot = await self._identity(team_of(body))
        try:
            return parse_message(body, bot)
        except MalformedPayload as exc:
            ignored(body, exc)
            return None

    async def answer(self, message: UserMessage, *, context: str = "") -> None:
        """Answer ``message`` in its thread (the bridge never raises for Dify or Slack)."""
        bot = await self._identity(message.team_id)
        team = message.team_id
        channel_name = (
            "" if message.is_dm else await self._directory.channel_name(team, message.channel)
        )
        incoming = Incoming(
            platform="slack",
            thread_key=message.thread_key,
            text=message.text,
            user_id=message.user,
            event_keys=message.event_keys,
            user_name=await self._directory.user_name(team, message.user),
            channel_id=message.channel,
            channel_name=channel_name,
            thread_url=message.thread_url(bot.workspace_url),
            shared=not message.is_dm,
            route_scopes=self._assistant.scopes_for(message),
            attachments=self._files.fetchable(team, message.attachments),
            context=context,
            message_key=str(MessageKey.slack(message.team_id, message.channel, message.ts)),
        )
        await self._assistant.first_question(message)
        await self._bridge.handle_message(incoming, self.sink_for(message))

    def sink_for(self, message: UserMessage) -> SlackSink:
        """Streaming messages in channel threads and assistant threads (``SLACK_STREAMING=auto``);
        a plain DM's top level is posted and edited."""
        budgets = self._budgets.team(message.team_id)
        thread_ts = message.reply_thread_ts
        if self._streaming and thread_ts:
            return SlackStreamSink(
                self._workspaces.client(message.team_id),
                team_id=message.team_id,
                channel=message.channel,
                thread_ts=thread_ts,
                reply_to_ts=message.ts,
                budgets=budgets,
                recipient_user_id=None if message.is_dm else message.user,
                assistant_thread=message.is_dm,
            )
        return SlackSink(
            self._workspaces.client(message.team_id),
            team_id=message.team_id,
            channel=message.channel,
            thread_ts=thread_ts,
            reply_to_ts=message.ts,
            edit_budget=budgets.update,
            post_budget=budgets.posts_in(message.channel),
        )
