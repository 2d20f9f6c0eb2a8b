"""What was said before the bot was asked, as the text that goes ahead of a first question.

Every platform reads its own history (a Slack thread, a Discord thread or
reply chain) into :class:`Said` values, oldest first; :func:`history_text`
caps and lays them out the same way for all of them, and the result goes
into :attr:`Incoming.context <dify_bridge.core.types.Incoming.context>`
(sent with that one turn only). The newest :data:`MAX_MESSAGES` messages
with text are kept, then at most :data:`MAX_CHARS` characters, the oldest
dropped first (the one that no longer fits is cut, if enough room is left):
the newest matter most to the question.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ASSISTANT",
    "EARLIER_IN_THREAD",
    "IN_REPLY_TO",
    "MAX_CHARS",
    "MAX_MESSAGES",
    "Said",
    "history_text",
    "speaker_label",
]

MAX_MESSAGES = 20
MAX_CHARS = 8000
MIN_CUT_LINE = 200
"""A message that does not fit is cut to the room left, if at least this much is left."""
EARLIER_IN_THREAD = "Earlier in this thread:"
IN_REPLY_TO = "The question replies to:"
ASSISTANT = "Assistant"
"""The label of the bot's own earlier messages: its answers, not a person's."""


@dataclass(frozen=True)
class Said:
    """One earlier message: who said it (see :func:`speaker_label`) and its text."""

    speaker: str
    text: str


def speaker_label(name: str, *, own: bool = False, bot: bool = False) -> str:
    """How a speaker is named: the bot itself as :data:`ASSISTANT`, another bot marked so."""
    if own:
        return ASSISTANT
    name = " ".join(name.split()) or "Someone"
    return f"{name} (bot)" if bot else name


def history_text(said: Iterable[Said], heading: str = EARLIER_IN_THREAD) -> str:
    """``heading`` and one ``Speaker: text`` line per message (oldest first), capped; ""
    when nothing with text is left."""
    lines = [f"{s.speaker}: {text}" for s in said if (text := " ".join(s.text.split()))]
    kept: list[str] = []
    total = len(heading)
    for line in reversed(lines[-MAX_MESSAGES:]):  # the newest lines matter most
        room = MAX_CHARS - total - 1
        if len(line) > room:
            if room >= MIN_CUT_LINE:  # a long message still gives its beginning
                kept.append(line[: room - 1] + "…")
            break
        kept.append(line)
        total += len(line) + 1
    if not kept:
        return ""
    return "\n".join([heading, *reversed(kept)])
