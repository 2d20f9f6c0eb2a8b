"""Slack event payloads as bridge values: which messages and reactions count, and their keys.

Pure functions of the event body and the bot's identity; no I/O. Every key
is made by :mod:`dify_bridge.keys`:

- thread (:meth:`ThreadKey.slack`): the thread's root ``ts``; a top-level
  DM message continues one conversation per DM.
- message the bot posted (:meth:`MessageKey.slack`): a reaction's item
  gives the same channel and ts.
- events (:class:`EventKey`): one key shared by the ``app_mention`` and the
  ``message`` event of one message, and one for Slack's retries of a delivery.

A field of a type Slack never sends raises
:class:`~dify_bridge.adapters.slack.payload.MalformedPayload`, which the
listeners log in one line and ignore; a value that is merely not for the bot
gives None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_bridge.core import Attachment, Rating, Reaction
from dify_bridge.keys import EventKey, MessageKey, ThreadKey

from .files import attachments
from .payload import obj, text_field

__all__ = [
    "STOP_REACTION",
    "BotIdentity",
    "ReactionEvent",
    "StopRequest",
    "UserMessage",
    "parse_message",
    "parse_reaction",
    "parse_stop",
    "rating_of",
]

ANSWERED_SUBTYPES = frozenset({"file_share", "thread_broadcast"})
"""Message subtypes that are people talking; every other subtype is skipped."""

STOP_REACTION = "octagonal_sign"
"""🛑 on an answer that is still streaming stops it."""

_RATINGS = {
    "+1": Rating.LIKE,
    "thumbsup": Rating.LIKE,
    "-1": Rating.DISLIKE,
    "thumbsdown": Rating.DISLIKE,
}


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is in its workspace (from ``auth.test``)."""

    team_id: str
    user_id: str
    bot_id: str
    workspace_url: str = ""


@dataclass(frozen=True)
class UserMessage:
    """A person's message, with the bot mention removed and entities decoded."""

    team_id: str
    channel: str
    user: str
    text: str
    ts: str
    thread_ts: str | None
    is_dm: bool
    mentions_bot: bool
    event_id: str = ""
    attachments: tuple[Attachment, ...] = ()

    @property
    def thread_key(self) -> str:
        """A DM's top level is one conversation; anything else is its thread's."""
        root = None if self.is_dm and self.thread_ts is None else self.thread_ts or self.ts
        return str(ThreadKey.slack(self.team_id, self.channel, root))

    @property
    def reply_thread_ts(self) -> str | None:
        """Where the answer goes: under the message in channels, top level in a DM."""
        if self.is_dm:
            return self.thread_ts
        return self.thread_ts or self.ts

    @property
    def event_keys(self) -> tuple[str, ...]:
        keys = [EventKey.slack_message(self.team_id, self.channel, self.ts)]
        if self.event_id:
            keys.append(EventKey.slack_delivery(self.event_id))
        return tuple(str(key) for key in keys)

    def thread_url(self, workspace_url: str) -> str:
        if not workspace_url:
            return ""
        root = self.reply_thread_ts or self.ts
        url = f"{workspace_url.rstrip('/')}/archives/{self.channel}/p{root.replace('.', '')}"
        return url if root == self.ts else f"{url}?thread_ts={root}&cid={self.channel}"


@dataclass(frozen=True)
class ReactionEvent:
    reaction: Reaction
    channel: str


@dataclass(frozen=True)
class StopRequest:
    """Someone put 🛑 on one of the bot's messages."""

    message_key: str
    channel: str
    user: str


def rating_of(name: str) -> Rating | None:
    """The rating a reaction name stands for (skin tones ignored), else None."""
    return _RATINGS.get(name.split("::", 1)[0])


def parse_message(body: Mapping[str, Any], bot: BotIdentity) -> UserMessage | None:
    """The user message in a ``message``/``app_mention`` body; None if the bot must skip it.

    Raises :class:`MalformedPayload` for fields of impossible types.
    """
    event = obj(body.get("event"), "event")
    subtype = event.get("subtype")
    if subtype is not None and text_field(subtype, "event.subtype") not in ANSWERED_SUBTYPES:
        return None
    user = text_field(event.get("user"), "event.user")
    if not user or event.get("bot_id") or user == bot.user_id or event.get("hidden"):
        return None
    channel = text_field(event.get("channel"), "event.channel")
    ts = text_field(event.get("ts"), "event.ts")
    if not channel or not ts:
        return None
    thread_ts = text_field(event.get("thread_ts"), "event.thread_ts") or None
    if thread_ts == ts:  # the parent of a thread is a top-level message
        thread_ts = None
    channel_type = text_field(event.get("channel_type"), "event.channel_type")
    is_dm = channel_type == "im" if channel_type else channel.startswith("D")
    text, mentioned = _strip_mention(text_field(event.get("text"), "event.text"), bot.user_id)
    return UserMessage(
        team_id=_team(body, bot),
        channel=channel,
        user=user,
        text=text,
        ts=ts,
        thread_ts=thread_ts,
        is_dm=is_dm,
        mentions_bot=mentioned or event.get("type") == "app_mention",
        event_id=text_field(body.get("event_id"), "event_id"),
        attachments=attachments(event.get("files")),
    )


def parse_reaction(body: Mapping[str, Any], bot: BotIdentity) -> ReactionEvent | None:
    """A rating added to or removed from one of the bot's messages, else None."""
    event = obj(body.get("event"), "event")
    rating = rating_of(text_field(event.get("reaction"), "event.reaction"))
    reacted = _reacted_message(event, bot)
    if rating is None or reacted is None:
        return None
    channel, ts, user = reacted
    added = event.get("type") == "reaction_added"
    key = str(MessageKey.slack(_team(body, bot), channel, ts))
    return ReactionEvent(Reaction(key, rating if added else None, user), channel)


def parse_stop(body: Mapping[str, Any], bot: BotIdentity) -> StopRequest | None:
    """A 🛑 added to one of the bot's messages (skin tones ignored), else None."""
    event = obj(body.get("event"), "event")
    if event.get("type") != "reaction_added":
        return None
    reaction = text_field(event.get("reaction"), "event.reaction")
    if reaction.split("::", 1)[0] != STOP_REACTION:
        return None
    reacted = _reacted_message(event, bot)
    if reacted is None:
        return None
    channel, ts, user = reacted
    return StopRequest(str(MessageKey.slack(_team(body, bot), channel, ts)), channel, user)


def _reacted_message(event: Mapping[str, Any], bot: BotIdentity) -> tuple[str, str, str] | None:
    """(channel, ts, reacting user) of a reaction by someone else on a bot message."""
    item = obj(event.get("item"), "event.item")
    user = text_field(event.get("user"), "event.user")
    if item.get("type") != "message" or not user or user == bot.user_id:
        return None
    item_user = text_field(event.get("item_user"), "event.item_user")
    if item_user and item_user != bot.user_id:
        return None
    channel = text_field(item.get("channel"), "event.item.channel")
    ts = text_field(item.get("ts"), "event.item.ts")
    if not channel or not ts:
        return None
    return channel, ts, user


def _team(body: Mapping[str, Any], bot: BotIdentity) -> str:
    event = obj(body.get("event"), "event")
    team = text_field(body.get("team_id"), "team_id") or text_field(event.get("team"), "event.team")
    return team or bot.team_id


def _strip_mention(text: str, bot_user_id: str) -> tuple[str, bool]:
    pattern = re.compile(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>")
    stripped, count = pattern.subn("", text)
    stripped = re.sub(r"[ \t]{2,}", " ", stripped).strip()
    return _decode_entities(stripped), count > 0


def _decode_entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
