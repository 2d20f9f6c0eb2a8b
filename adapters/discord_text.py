"""Text rules of the Discord adapter: keys, mentions, thread names, safe rendering.

Pure functions, no discord.py objects, so each rule is tested on its own.
"""

from __future__ import annotations

import re

from dify_bridge.models import Rating

MAX_MESSAGE_LEN = 2000
"""Discord's limit for the content of one message."""

MAX_THREAD_NAME = 100
THREAD_NAME_TARGET = 60
"""Thread names are cut at a word boundary near this length (Discord allows 100)."""

_ZERO_WIDTH_SPACE = "\u200b"
_MASS_MENTION = re.compile(r"@(everyone|here)")
_MENTION_OPEN = re.compile(r"<@([!&]?\d)")

_RATINGS = {"👍": Rating.LIKE, "👎": Rating.DISLIKE}
LIKE_EMOJI = "👍"
DISLIKE_EMOJI = "👎"


def thread_key(guild_id: int | None, channel_id: int) -> str:
    """The conversation key: a guild thread, or a DM channel."""
    return f"discord:{guild_id if guild_id is not None else 'dm'}:{channel_id}"


def message_key(channel_id: int, message_id: int) -> str:
    """The key a reaction on one of the bot's messages carries."""
    return f"discord:{channel_id}:{message_id}"


def parse_message_key(key: str) -> tuple[int, int]:
    """``(channel_id, message_id)`` of a key made by :func:`message_key`."""
    platform, channel_id, message_id = key.split(":")
    if platform != "discord":
        raise ValueError(f"not a Discord message key: {key!r}")
    return int(channel_id), int(message_id)


def event_key(message_id: int) -> str:
    """Dedupe key of one message: gateway replays and resumes deliver it again."""
    return f"discord-msg:{message_id}"


def strip_bot_mention(content: str, bot_id: int) -> str:
    """The question without the ``<@bot>`` / ``<@!bot>`` that addressed the bot."""
    return re.sub(rf"<@!?{bot_id}>", " ", content).strip()


def name_user_mentions(content: str, names: dict[int, str]) -> str:
    """Replace ``<@id>`` mentions of other people with ``@Name`` so Dify reads names."""
    for user_id, name in names.items():
        content = re.sub(rf"<@!?{user_id}>", f"@{name}", content)
    return content


def thread_name(question: str, fallback: str) -> str:
    """A short thread title from the first words of the question."""
    words = " ".join(question.split())
    words = _MASS_MENTION.sub(r"\1", words).replace("<@", "@")
    if not words:
        return fallback[:MAX_THREAD_NAME]
    if len(words) <= THREAD_NAME_TARGET:
        return words
    cut = words[:THREAD_NAME_TARGET].rsplit(" ", 1)[0] or words[:THREAD_NAME_TARGET]
    return (cut.rstrip(" ,.;:") + "…")[:MAX_THREAD_NAME]


def neutralise_mentions(text: str) -> str:
    """Markdown stays (Discord renders it), but no mention can ping, even when copied.

    ``@everyone``/``@here`` and ``<@id>``/``<@!id>``/``<@&role>`` get a zero-width
    space after the ``@``, which Discord shows as plain text. Messages are also sent
    with ``AllowedMentions.none()``; this covers text a user copies and re-posts.
    """
    text = _MASS_MENTION.sub(lambda m: "@" + _ZERO_WIDTH_SPACE + m.group(1), text)
    return _MENTION_OPEN.sub(lambda m: "<@" + _ZERO_WIDTH_SPACE + m.group(1), text)


def rating_for(emoji_name: str | None) -> Rating | None:
    """👍 and 👎 (any skin tone) become ratings; every other emoji is not feedback."""
    if not emoji_name:
        return None
    return _RATINGS.get(emoji_name[0])


__all__ = [
    "DISLIKE_EMOJI",
    "LIKE_EMOJI",
    "MAX_MESSAGE_LEN",
    "event_key",
    "message_key",
    "name_user_mentions",
    "neutralise_mentions",
    "parse_message_key",
    "rating_for",
    "strip_bot_mention",
    "thread_key",
    "thread_name",
]
