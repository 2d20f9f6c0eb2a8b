"""Slack event payloads as bridge values: which messages count, and their keys.

Pure functions of the event body and the bot's identity; no I/O. Keys:

- thread: ``slack:{team}:{channel}:{thread_ts or ts}``; a top-level DM
  message continues one conversation per DM, ``slack:{team}:{channel}:dm``.
- message the bot posted: ``slack:{team}:{channel}:{ts}`` (a reaction's
  item gives the same channel and ts).
- dedupe: ``slack-msg:{team}:{channel}:{ts}`` is shared by the
  ``app_mention`` and the ``message`` event of one message, and
  ``slack-event:{event_id}`` covers Slack's retries of one delivery.

A field of a type Slack never sends (an object where a string belongs, a
file size that is not a number) raises :class:`MalformedPayload`, which the
listeners log in one line and ignore; a value that is merely not for the
bot gives None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_bridge.core.types import Attachment, Rating, Reaction

__all__ = [
    "STOP_REACTION",
    "BotIdentity",
    "MalformedPayload",
    "ReactionEvent",
    "StopRequest",
    "UserMessage",
    "message_key",
    "obj",
    "parse_message",
    "parse_reaction",
    "parse_stop",
    "rating_of",
    "text_field",
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


class MalformedPayload(ValueError):
    """A Slack payload with a field of a type or value Slack never sends."""


def obj(value: object, what: str) -> Mapping[str, Any]:
    """``value`` as an object; ``{}`` when absent; :class:`MalformedPayload` otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"{what} is a {type(value).__name__}, not an object")
    return value


def text_field(value: object, what: str) -> str:
    """A string (or number) field as text; ``""`` when absent; else :class:`MalformedPayload`."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise MalformedPayload(f"{what} is a {type(value).__name__}, not text")


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
        if self.is_dm and self.thread_ts is None:
            return f"slack:{self.team_id}:{self.channel}:dm"
        return f"slack:{self.team_id}:{self.channel}:{self.thread_ts or self.ts}"

    @property
    def reply_thread_ts(self) -> str | None:
        """Where the answer goes: under the message in channels, top level in a DM."""
        if self.is_dm:
            return self.thread_ts
        return self.thread_ts or self.ts

    @property
    def event_keys(self) -> tuple[str, ...]:
        keys = [f"slack-msg:{self.team_id}:{self.channel}:{self.ts}"]
        if self.event_id:
            keys.append(f"slack-event:{self.event_id}")
        return tuple(keys)

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


def message_key(team_id: str, channel: str, ts: str) -> str:
    return f"slack:{team_id}:{channel}:{ts}"


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
        attachments=_attachments(event.get("files")),
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
    key = message_key(_team(body, bot), channel, ts)
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
    return StopRequest(message_key(_team(body, bot), channel, ts), channel, user)


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


def _attachments(files: Any) -> tuple[Attachment, ...]:
    if files is None:
        return ()
    if not isinstance(files, list):
        raise MalformedPayload(f"event.files is a {type(files).__name__}, not a list")
    found = []
    for file in files:
        if not isinstance(file, Mapping):
            raise MalformedPayload(f"a file is a {type(file).__name__}, not an object")
        if file.get("mode") == "tombstone":
            continue
        name = text_field(file.get("name"), "file.name") or text_field(
            file.get("title"), "file.title"
        )
        mime_type = text_field(file.get("mimetype"), "file.mimetype")
        mime_type = mime_type or "application/octet-stream"
        if file.get("subtype") == "slack_audio":
            filetype = text_field(file.get("filetype"), "file.filetype")
            name, mime_type = _audio_clip(name or "file", mime_type, filetype)
        url = text_field(file.get("url_private_download"), "file.url_private_download")
        found.append(
            Attachment(
                name=name or "file",
                mime_type=mime_type,
                size=_size(file.get("size")),
                url=url or text_field(file.get("url_private"), "file.url_private"),
            )
        )
    return tuple(found)


def _size(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise MalformedPayload(f"file.size {repr(value)[:40]} is not a byte count")


def _audio_clip(name: str, mime_type: str, filetype: str) -> tuple[str, str]:
    """A recorded clip is speech even when Slack types it as video (``video/mp4``)."""
    if filetype and "." not in name:
        name = f"{name}.{filetype}"
    kind, _, rest = mime_type.partition("/")
    if kind != "audio":
        mime_type = f"audio/{rest or filetype or 'webm'}"
    return name, mime_type
