"""Slack event payloads as bridge values: which messages count, and their keys.

Pure functions of the event body and the bot's identity; no I/O. Keys:

- thread: ``slack:{team}:{channel}:{thread_ts or ts}``; a top-level DM
  message continues one conversation per DM, ``slack:{team}:{channel}:dm``.
- message the bot posted: ``slack:{team}:{channel}:{ts}`` (a reaction's
  item gives the same channel and ts).
- dedupe: ``slack-msg:{team}:{channel}:{ts}`` is shared by the
  ``app_mention`` and the ``message`` event of one message, and
  ``slack-event:{event_id}`` covers Slack's retries of one delivery.
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
    "ReactionEvent",
    "StopRequest",
    "UserMessage",
    "message_key",
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
    """The user message in a ``message``/``app_mention`` body; None if the bot must skip it."""
    event = body.get("event") or {}
    subtype = event.get("subtype")
    if subtype is not None and subtype not in ANSWERED_SUBTYPES:
        return None
    user = str(event.get("user") or "")
    if not user or event.get("bot_id") or user == bot.user_id or event.get("hidden"):
        return None
    channel = str(event.get("channel") or "")
    ts = str(event.get("ts") or "")
    if not channel or not ts:
        return None
    thread_ts = event.get("thread_ts")
    if thread_ts == ts:  # the parent of a thread is a top-level message
        thread_ts = None
    channel_type = event.get("channel_type")
    is_dm = channel_type == "im" if channel_type else channel.startswith("D")
    text, mentioned = _strip_mention(str(event.get("text") or ""), bot.user_id)
    return UserMessage(
        team_id=_team(body, bot),
        channel=channel,
        user=user,
        text=text,
        ts=ts,
        thread_ts=str(thread_ts) if thread_ts else None,
        is_dm=is_dm,
        mentions_bot=mentioned or event.get("type") == "app_mention",
        event_id=str(body.get("event_id") or ""),
        attachments=_attachments(event.get("files")),
    )


def parse_reaction(body: Mapping[str, Any], bot: BotIdentity) -> ReactionEvent | None:
    """A rating added to or removed from one of the bot's messages, else None."""
    event = body.get("event") or {}
    rating = rating_of(str(event.get("reaction") or ""))
    reacted = _reacted_message(event, bot)
    if rating is None or reacted is None:
        return None
    channel, ts, user = reacted
    added = event.get("type") == "reaction_added"
    key = message_key(_team(body, bot), channel, ts)
    return ReactionEvent(Reaction(key, rating if added else None, user), channel)


def parse_stop(body: Mapping[str, Any], bot: BotIdentity) -> StopRequest | None:
    """A 🛑 added to one of the bot's messages (skin tones ignored), else None."""
    event = body.get("event") or {}
    if event.get("type") != "reaction_added":
        return None
    if str(event.get("reaction") or "").split("::", 1)[0] != STOP_REACTION:
        return None
    reacted = _reacted_message(event, bot)
    if reacted is None:
        return None
    channel, ts, user = reacted
    return StopRequest(message_key(_team(body, bot), channel, ts), channel, user)


def _reacted_message(event: Mapping[str, Any], bot: BotIdentity) -> tuple[str, str, str] | None:
    """(channel, ts, reacting user) of a reaction by someone else on a bot message."""
    item = event.get("item") or {}
    user = str(event.get("user") or "")
    if item.get("type") != "message" or not user or user == bot.user_id:
        return None
    item_user = event.get("item_user")
    if item_user and item_user != bot.user_id:
        return None
    channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
    if not channel or not ts:
        return None
    return channel, ts, user


def _team(body: Mapping[str, Any], bot: BotIdentity) -> str:
    event = body.get("event") or {}
    return str(body.get("team_id") or event.get("team") or bot.team_id)


def _strip_mention(text: str, bot_user_id: str) -> tuple[str, bool]:
    pattern = re.compile(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>")
    stripped, count = pattern.subn("", text)
    stripped = re.sub(r"[ \t]{2,}", " ", stripped).strip()
    return _decode_entities(stripped), count > 0


def _decode_entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _attachments(files: Any) -> tuple[Attachment, ...]:
    if not isinstance(files, list):
        return ()
    found = []
    for file in files:
        if not isinstance(file, Mapping) or file.get("mode") == "tombstone":
            continue
        name = str(file.get("name") or file.get("title") or "file")
        mime_type = str(file.get("mimetype") or "application/octet-stream")
        if file.get("subtype") == "slack_audio":
            name, mime_type = _audio_clip(name, mime_type, str(file.get("filetype") or ""))
        found.append(
            Attachment(
                name=name,
                mime_type=mime_type,
                size=int(file.get("size") or 0),
                url=str(file.get("url_private_download") or file.get("url_private") or ""),
            )
        )
    return tuple(found)


def _audio_clip(name: str, mime_type: str, filetype: str) -> tuple[str, str]:
    """A recorded clip is speech even when Slack types it as video (``video/mp4``)."""
    if filetype and "." not in name:
        name = f"{name}.{filetype}"
    kind, _, rest = mime_type.partition("/")
    if kind != "audio":
        mime_type = f"audio/{rest or filetype or 'webm'}"
    return name, mime_type
