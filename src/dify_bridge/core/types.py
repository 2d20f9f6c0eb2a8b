"""Values that cross the boundary between adapters and the bridge engine.

Adapters turn platform events into :class:`Incoming` and :class:`Reaction`
values and implement :class:`~dify_bridge.core.ports.ReplySink`; the bridge
never sees a platform object.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dify_bridge.dify.types import Citation, Rating, Usage
from dify_bridge.store.records import MessageRecord, ThreadRecord


@dataclass(frozen=True)
class Controls:
    """Buttons under the last message of an answer.

    While the answer streams: a Stop button. Once final: 👍/👎 feedback
    buttons and the app's suggested follow-up questions.
    """

    stop: bool = False
    feedback: bool = False
    suggestions: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.stop or self.feedback or bool(self.suggestions)


class ActionKind(enum.Enum):
    """Button ids shared by every platform (Slack ``action_id``, Discord ``custom_id``)."""

    STOP = "dify_stop"
    FEEDBACK = "dify_feedback"
    SUGGESTED = "dify_suggested"


@dataclass(frozen=True)
class Attachment:
    """A file a user attached to a message, fetched lazily by the adapter."""

    name: str
    mime_type: str
    size: int
    """As the platform declares it: a hint (0 when unknown); the bytes received decide."""
    url: str = ""
    fetch: Callable[[int], Awaitable[bytes]] | None = field(default=None, compare=False, repr=False)
    """``fetch(max_bytes)`` downloads the whole file with the platform's credentials,
    raising :class:`~dify_bridge.errors.FileTooLarge` as soon as it passes
    ``max_bytes`` (None: cannot be fetched)."""


@dataclass(frozen=True)
class Incoming:
    """One user message addressed to the bot.

    ``thread_key`` names the conversation (one platform thread, DM or
    channel); it is also the stable Dify ``user`` of a new thread, so two
    threads or two workspaces never share a conversation. ``event_keys`` are
    the ids under which the platform may deliver this same message again
    (event id, channel+timestamp); the bridge answers the first one only.
    """

    platform: str
    thread_key: str
    text: str
    user_id: str
    event_keys: tuple[str, ...] = ()
    user_name: str = ""
    channel_id: str = ""
    channel_name: str = ""
    thread_url: str = ""
    shared: bool = False
    """True in a channel several people see: the speaker's name joins the query."""
    route_scopes: tuple[str, ...] = ()
    """Where the message came from, most specific first (e.g. channel, guild),
    used to pick the Dify app of a new thread."""
    attachments: tuple[Attachment, ...] = ()
    context: str = ""
    """What was said before the bot joined (e.g. a thread's earlier messages), sent
    ahead of the question on this turn only."""
    message_key: str = ""
    """The user's message itself (where a thinking indicator may sit), if known."""

    @property
    def placeholders(self) -> dict[str, str]:
        """What ``{user_name}``-style placeholders in the app's inputs stand for."""
        return {
            "user_name": self.user_name,
            "user_id": self.user_id,
            "channel_name": self.channel_name,
            "thread_url": self.thread_url,
            "platform": self.platform,
        }


@dataclass(frozen=True)
class Opening:
    """How an app greets a new conversation: its opening statement and questions."""

    statement: str = ""
    questions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reaction:
    """A rating added to (or removed from) a message the bot posted."""

    message_key: str
    rating: Rating | None
    user_id: str = ""


__all__ = [
    "ActionKind",
    "Attachment",
    "Citation",
    "Controls",
    "Incoming",
    "MessageRecord",
    "Opening",
    "Rating",
    "Reaction",
    "ThreadRecord",
    "Usage",
]
