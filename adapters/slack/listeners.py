"""What the bot does with each Slack event and button click.

- A mention in a channel is answered in a thread under that message; later
  messages in a thread the bot already answers continue without a mention.
- A DM is one conversation per DM channel (a DM thread is its own one).
- 👍 / 👎 reactions on an answer (skin tones included) and the feedback
  buttons rate it in Dify; removing the reaction revokes the rating.
- Stop (the button, or 🛑 on the answer) stops the answer; a suggested
  question is asked in the thread.
- ``/dify new|status|help`` is answered ephemerally in the command's ack
  (:mod:`dify_bridge.adapters.slack.commands`).
- An audio clip or audio file becomes the question through
  :mod:`dify_bridge.core.voice`; the thread shows what was heard (``🎙️ "…"``) or
  one line saying why it could not be used.
- ``SLACK_ALLOWED_CHANNELS`` / ``SLACK_ALLOWED_USERS``, when set, are checked
  before anything reaches the bridge; DM channels count as channels.

Every listener runs after bolt has acknowledged the request, so Slack gets
its 200 before the answer streams. A payload with fields of impossible
types (:class:`~dify_bridge.adapters.slack_events.MalformedPayload`) is
logged in one line and ignored. Event types nobody listens to are acked
by catch-alls, or bolt would answer 404 and Slack would retry.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.config import SlackSettings
from dify_bridge.core.bridge import Bridge
from dify_bridge.core.types import ActionKind, Incoming, Reaction

from .blocks import ButtonClick, parse_click
from .budgets import WorkspaceBudgets
from .client import SlackCallFailed, call_slack
from .commands import COMMAND, NOT_HERE, SlackCommands, SlashCommand
from .directory import SlackDirectory
from .events import (
    BotIdentity,
    MalformedPayload,
    UserMessage,
    message_key,
    parse_message,
    parse_reaction,
    parse_stop,
)
from .files import SlackFiles
from .format import escape_mrkdwn
from .http import kind_of
from .sink import SlackSink

__all__ = ["SlackListeners"]

log = logging.getLogger(__name__)

FEEDBACK_THANKS = "Thanks, your feedback was sent."
MAX_REMEMBERED = 10_000


class SlackListeners:
    """Turns bolt's events and actions into bridge calls."""

    def __init__(
        self,
        settings: SlackSettings,
        bridge: Bridge,
        client: AsyncWebClient,
        budgets: WorkspaceBudgets,
        identity: Callable[[], Awaitable[BotIdentity]],
    ) -> None:
        self._settings = settings
        self._bridge = bridge
        self._client = client
        self._budgets = budgets
        self._identity = identity
        self._directory = SlackDirectory(client)
        self._files = SlackFiles(settings.bot_token.value, settings.api_url)
        self._commands = SlackCommands(bridge)
        self._asked: set[tuple[str, str, str, str]] = set()
        self._engaged: set[str] = set()
        """Threads this process has started answering; the store knows them a moment later."""

    def register(self, app: AsyncApp) -> None:
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.event("reaction_added")(self.on_reaction)
        app.event("reaction_removed")(self.on_reaction)
        app.action(re.compile(r"^dify_"))(self.on_button)
        app.command(COMMAND)(self.on_command)
        everything = re.compile(".*")
        app.event(everything)(self.ignore)
        app.command(everything)(self.ack_only)
        app.action(everything)(self.ack_only)
        app.shortcut(everything)(self.ack_only)
        app.view(everything)(self.ack_only)
        app.options(everything)(self.ack_only)
        app.middleware(self.answer_rate_limit_notice)

    async def answer_rate_limit_notice(
        self, body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        """``app_rate_limited`` is no event, so no listener matches it: bolt would answer
        404 exactly when the workspace is busiest. It gets its 200 (and a log line)."""
        if isinstance(body, dict) and body.get("type") == "app_rate_limited":
            log.warning(
                "Slack is holding back events of team %s (app_rate_limited)", body.get("team_id")
            )
            return BoltResponse(status=200, body="")
        return await next()

    async def ignore(self) -> None:
        return None

    async def ack_only(self, ack: AsyncAck) -> None:
        await ack()

    # ------------------------------------------------------------------ events

    async def on_mention(self, body: dict[str, Any]) -> None:
        message = await self._parse_message(body)
        if message is not None and self._allowed(message.channel, message.user):
            await self._answer(message)

    async def on_message(self, body: dict[str, Any]) -> None:
        message = await self._parse_message(body)
        if message is None or not self._allowed(message.channel, message.user):
            return
        # in channels a mention of a new thread arrives as app_mention; here only known threads
        if not message.is_dm and (
            message.thread_ts is None or not await self._follows(message.thread_key)
        ):
            return
        await self._answer(message)

    async def _parse_message(self, body: dict[str, Any]) -> UserMessage | None:
        bot = await self._identity()
        try:
            return parse_message(body, bot)
        except MalformedPayload as exc:
            _ignored(body, exc)
            return None

    async def _follows(self, thread_key: str) -> bool:
        return thread_key in self._engaged or await self._bridge.follows(thread_key)

    async def on_reaction(self, body: dict[str, Any]) -> None:
        bot = await self._identity()
        try:
            stop = parse_stop(body, bot)
            found = parse_reaction(body, bot) if stop is None else None
        except MalformedPayload as exc:
            _ignored(body, exc)
            return
        if stop is not None:
            if self._allowed(stop.channel, stop.user) and not await self._directory.is_bot(
                stop.user
            ):
                await self._bridge.stop_answer(message_key=stop.message_key)
            return
        if found is None or not self._allowed(found.channel, found.reaction.user_id):
            return
        if await self._directory.is_bot(found.reaction.user_id):
            return  # another app's reactions are not a person's feedback
        await self._rate(found.reaction)

    # ---------------------------------------------------------------- commands

    async def on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        """``/dify``: the reply goes back in the ack (ephemeral), within Slack's 3 s."""
        try:
            parsed = SlashCommand.parse(command)
        except MalformedPayload as exc:
            _ignored(command, exc)
            await ack()
            return
        if not parsed.team_id:
            parsed = dataclasses.replace(parsed, team_id=(await self._identity()).team_id)
        if not self._allowed(parsed.channel, parsed.user):
            await ack(text=NOT_HERE, response_type="ephemeral")
            return
        try:
            text = await self._commands.reply(parsed)
        except Exception:
            log.exception("/dify %s in %s not handled", parsed.text, parsed.channel)
            text = "Sorry, that did not work. Please try again."
        await ack(text=text, response_type="ephemeral")

    # ----------------------------------------------------------------- buttons

    async def on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        try:
            click = parse_click(body)
        except MalformedPayload as exc:
            _ignored(body, exc)
            return
        if click is None or not self._allowed(click.channel, click.user):
            return
        team_id = click.team_id or (await self._identity()).team_id
        key = message_key(team_id, click.channel, click.message_ts)
        try:
            if click.kind is ActionKind.STOP:
                await self._bridge.stop_answer(message_key=key)
            elif click.kind is ActionKind.FEEDBACK:
                await self._rate(Reaction(key, click.rating, click.user))
                await self._thank(click)
            elif click.kind is ActionKind.SUGGESTED:
                await self._ask_suggestion(click, team_id)
        except Exception:
            log.exception("button %s in %s not handled", click.kind.value, click.channel)

    async def _thank(self, click: ButtonClick) -> None:
        try:
            await call_slack(
                "chat.postEphemeral",
                self._client.chat_postEphemeral(
                    channel=click.channel,
                    user=click.user,
                    text=FEEDBACK_THANKS,
                    thread_ts=click.thread_ts,
                ),
            )
        except SlackCallFailed as exc:
            log.info("no feedback confirmation in %s: %s", click.channel, exc.error)

    async def _ask_suggestion(self, click: ButtonClick, team_id: str) -> None:
        """Show who asked which suggested question in the thread, then answer it."""
        clicked = (click.channel, click.message_ts, click.value, click.user)
        if clicked in self._asked:
            log.info("suggestion already asked in %s; ignoring the repeat click", click.channel)
            return
        if len(self._asked) >= MAX_REMEMBERED:
            self._asked.clear()
        self._asked.add(clicked)
        name = await self._directory.user_name(click.user) or "Someone"
        posted = await call_slack(
            "chat.postMessage",
            self._client.chat_postMessage(
                channel=click.channel,
                thread_ts=click.thread_ts,
                text=f"*{escape_mrkdwn(name)}* asked: {escape_mrkdwn(click.value)}",
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
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
        await self._answer(message)

    # ------------------------------------------------------------------ shared

    def _allowed(self, channel: str, user: str) -> bool:
        channels, users = self._settings.allowed_channels, self._settings.allowed_users
        if channels and channel not in channels:
            log.debug("ignoring channel %s: not in SLACK_ALLOWED_CHANNELS", channel)
            return False
        if users and user not in users:
            log.debug("ignoring user %s: not in SLACK_ALLOWED_USERS", user)
            return False
        return True

    async def _rate(self, reaction: Reaction) -> None:
        try:
            await self._bridge.handle_reaction(reaction)
        except Exception:
            log.exception("rating of %s not handled", reaction.message_key)

    async def _answer(self, message: UserMessage) -> None:
        try:
            bot = await self._identity()
            channel_name = (
                "" if message.is_dm else await self._directory.channel_name(message.channel)
            )
            incoming = Incoming(
                platform="slack",
                thread_key=message.thread_key,
                text=message.text,
                user_id=message.user,
                event_keys=message.event_keys,
                user_name=await self._directory.user_name(message.user),
                channel_id=message.channel,
                channel_name=channel_name,
                thread_url=message.thread_url(bot.workspace_url),
                shared=not message.is_dm,
                route_scopes=(f"slack:{message.channel}", f"slack:{message.team_id}"),
                attachments=self._files.fetchable(message.attachments),
            )
            if len(self._engaged) >= MAX_REMEMBERED:
                self._engaged.clear()
            self._engaged.add(message.thread_key)
            self._commands.saw_thread(message.channel, message.thread_key)
            sink = SlackSink(
                self._client,
                team_id=message.team_id,
                channel=message.channel,
                thread_ts=message.reply_thread_ts,
                reply_to_ts=message.ts,
                edit_budget=self._budgets.for_team(message.team_id),
            )
            await self._bridge.handle_message(incoming, sink)
        except Exception:
            log.exception("message %s in %s not handled", message.ts, message.channel)


def _ignored(body: object, problem: MalformedPayload) -> None:
    log.info("ignoring a Slack %s: %s", kind_of(body), problem)
