"""Text rules of the Discord adapter: button ids, mentions, thread names, safe rendering.

Pure functions, no discord.py objects, so each rule is tested on its own.
Thread, message and route keys are :mod:`dify_bridge.keys`'; only the ids a
redelivered gateway event or interaction is recognised by are made here.
"""

from __future__ import annotations

import re

from dify_bridge.core import ActionKind, MessageKey, Rating
from dify_bridge.keys import EventKey

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
STOP_EMOJI = "🛑"

MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
_SUGGESTED_PREFIX = ActionKind.SUGGESTED.value + ":"
MAX_SUGGESTION_ID = MAX_CUSTOM_ID - len(_SUGGESTED_PREFIX)
"""Characters of a suggested question that fit in its button's ``custom_id`` (85)."""


def parse_message_key(key: str) -> tuple[int, int]:
    """``(channel_id, message_id)`` of a key made by :meth:`MessageKey.discord`."""
    parsed = MessageKey.parse(key)
    if parsed.platform != "discord" or len(parsed.parts) != 2:
        raise ValueError(f"not a Discord message key: {key!r}")
    channel_id, message_id = parsed.parts
    return int(channel_id), int(message_id)


def event_key(message_id: int) -> str:
    """Dedupe key of one message: gateway replays and resumes deliver it again."""
    return str(EventKey.discord_message(message_id))


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


def feedback_custom_id(rating: Rating) -> str:
    return f"{ActionKind.FEEDBACK.value}:{rating.value}"


def suggestion_custom_id(question: str) -> str:
    return _SUGGESTED_PREFIX + question[:MAX_SUGGESTION_ID]


def button_label(text: str) -> str:
    """A button label within Discord's 80 characters, cut with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_BUTTON_LABEL else text[: MAX_BUTTON_LABEL - 1] + "…"


def parse_custom_id(custom_id: str) -> tuple[ActionKind, str] | None:
    """``(kind, argument)`` of one of the bridge's buttons; None for anything else.

    ``dify_stop`` has no argument, ``dify_feedback:like`` the rating, and
    ``dify_suggested:<question>`` the question (its first 85 characters).
    """
    name, _, argument = custom_id.partition(":")
    try:
        kind = ActionKind(name)
    except ValueError:
        return None
    if kind is ActionKind.FEEDBACK and argument not in (r.value for r in Rating):
        return None
    if kind is ActionKind.SUGGESTED and not argument.strip():
        return None
    return kind, argument


def interaction_event_key(interaction_id: int) -> str:
    """Dedupe key of a button click that asks a question."""
    return str(EventKey.discord_interaction(interaction_id))


__all__ = [
    "DISLIKE_EMOJI",
    "LIKE_EMOJI",
    "MAX_MESSAGE_LEN",
    "MAX_SUGGESTION_ID",
    "STOP_EMOJI",
    "button_label",
    "event_key",
    "feedback_custom_id",
    "interaction_event_key",
    "name_user_mentions",
    "neutralise_mentions",
    "parse_custom_id",
    "parse_message_key",
    "rating_for",
    "strip_bot_mention",
    "suggestion_custom_id",
    "thread_name",
]
