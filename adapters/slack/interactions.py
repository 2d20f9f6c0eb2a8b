"""Reactions and button clicks on the bot's answers.

- 👍 / 👎 reactions (skin tones included) and the feedback buttons rate the
  answer in Dify; removing the reaction revokes the rating. Another app's
  reactions are not a person's feedback.
- Stop (the button, or 🛑 on the answer) stops the answer while it streams.
- A suggested question is shown in the thread as asked by whoever clicked
  it, then answered there; the same person clicking it again is ignored,
  on any replica (:meth:`Bridge.claim_click`).

The buttons' ``action_id`` values (``dify_stop``, ``dify_feedback:like``,
``dify_suggested:0``) are those of every earlier release, so answers posted
before an upgrade keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck

from dify_bridge.core import ActionKind, Bridge, Reaction, notices
from dify_bridge.keys import MessageKey

from .access import SlackAccess
from .blocks import ButtonClick, parse_click
from .client import SlackCallFailed, call_slack
from .directory import SlackDirectory
from .events import BotIdentity, UserMessage, parse_reaction, parse_stop
from .format import markdown_to_mrkdwn
from .messages import SlackMessages
from .payload import MalformedPayload, ignored
from .workspaces import SlackWorkspaces, team_of

__all__ = ["SlackInteractions"]

log = logging.getLogger(__name__)


class SlackInteractions:
    """``reaction_added`` / ``reaction_removed`` events and ``block_actions`` on answers."""

    def __init__(
        self,
        bridge: Bridge,
        workspaces: SlackWorkspaces,
        *,
        access: SlackAccess,
        directory: SlackDirectory,
        messages: SlackMessages,
        identity: Callable[[str], Awaitable[BotIdentity]],
    ) -> None:
        self._bridge = bridge
        self._workspaces = workspaces
        self._access = access
        self._directory = directory
        self._messages = messages
        self._identity = identity

    async def on_reaction(self, body: dict[str, Any]) -> None:
        team_id = team_of(body)
        bot = await self._identity(team_id)
        try:
            stop = parse_stop(body, bot)
            found = parse_reaction(body, bot) if stop is None else None
        except MalformedPayload as exc:
            ignored(body, exc)
            return
        if stop is not None:
            if self._access.allows(stop.channel, stop.user) and not await self._directory.is_bot(
                team_id, stop.user
            ):
                await self._bridge.stop_answer(message_key=stop.message_key)
            return
        if found is None or not self._access.allows(found.channel, found.reaction.user_id):
            return
        if await self._directory.is_bot(team_id, found.reaction.user_id):
            return  # another app's reactions are not a person's feedback
        await self._bridge.handle_reaction(found.reaction)

    async def on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        try:
            click = parse_click(body)
        except MalformedPayload as exc:
            ignored(body, exc)
            return
        if click is None or not self._access.allows(click.channel, click.user):
            return
        team_id = click.team_id or (await self._identity(team_of(body))).team_id
        key = str(MessageKey.slack(team_id, click.channel, click.message_ts))
        if click.kind is ActionKind.STOP:
            await self._bridge.stop_answer(message_key=key)
        elif click.kind is ActionKind.FEEDBACK:
            sent = await self._bridge.handle_reaction(Reaction(key, click.rating, click.user))
            await self._tell(
                click, team_id, notices.FEEDBACK_THANKS if sent else notices.FEEDBACK_NOT_SENT
            )
        elif click.kind is ActionKind.SUGGESTED:
            await self._ask_suggestion(click, team_id, key)

    async def _tell(self, click: ButtonClick, team_id: str, text: str) -> None:
        """A line only the clicker sees, under the answer."""
        try:
            await call_slack(
                "chat.postEphemeral",
                self._workspaces.client(team_id).chat_postEphemeral(
                    channel=click.channel,
                    user=click.user,
                    text=text,
                    thread_ts=click.thread_ts,
                ),
            )
        except SlackCallFailed as exc:
            log.info("no feedback confirmation in %s: %s", click.channel, exc.error)

    async def _ask_suggestion(self, click: ButtonClick, team_id: str, key: str) -> None:
        """Show who asked which suggested question in the thread, then answer it."""
        if not await self._bridge.claim_click(key, click.value, click.user):
            log.info("suggestion already asked in %s; ignoring the repeat click", click.channel)
            return
        name = await self._directory.user_name(team_id, click.user)
        try:
            posted = await call_slack(
                "chat.postMessage",
                self._workspaces.client(team_id).chat_postMessage(
                    channel=click.channel,
                    thread_ts=click.thread_ts,
                    text=markdown_to_mrkdwn(notices.asked_line(name, click.value)),
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
        except SlackCallFailed as exc:
            log.error("suggested question in %s not asked: %s", click.channel, exc.error)
            return
        message = UserMessage(
            team_id=team_id,
            channel=click.channel,
            user=click.user,
            text=click.value,
            ts=str(posted.get("ts") or click.message_ts),
            thread_ts=click.thread_ts,
            is_dm=click.channel.startswith("D"),
            mentions_bot=False,
        )
        await self._messages.answer(message)
