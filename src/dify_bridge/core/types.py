"""Values that cross the boundary between adapters and the bridge engine.

Adapters turn platform events into :class:`Incoming` and :class:`Reaction`
values and implement :class:`ReplySink`; the bridge never sees a platform
object.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dify_bridge.core.pacing import EditBudget


class Rating(enum.Enum):
    """Dify message feedback. ``None`` (no rating) revokes an earlier one."""

    LIKE = "like"
    DISLIKE = "dislike"


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


@dataclass(frozen=True)
class Reaction:
    """A rating added to (or removed from) a message the bot posted."""

    message_key: str
    rating: Rating | None
    user_id: str = ""


@dataclass(frozen=True)
class ThreadRecord:
    """What the store remembers about one thread."""

    thread_key: str
    conversation_id: str
    dify_user: str
    app: str = "default"


@dataclass(frozen=True)
class MessageRecord:
    """Which Dify message a posted platform message belongs to."""

    message_key: str
    dify_message_id: str
    dify_user: str
    thread_key: str
    app: str = "default"


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency: float = 0.0


@dataclass
class Citation:
    """One entry of ``message_end.metadata.retriever_resources``."""

    position: int
    dataset_name: str
    document_name: str
    content: str
    score: float | None = None
    url: str = ""


@dataclass
class FinalAnswer:
    """What the sink gets once the answer is complete."""

    text: str
    dify_message_id: str = ""
    citations: list[Citation] = field(default_factory=list)
    notice: str = ""


class ReplySink(Protocol):
    """Where one answer is shown. Implemented by each adapter.

    The bridge renders, splits and paces; a sink only performs the platform
    calls. ``post`` returns the message key that a later :class:`Reaction`
    will carry for that message.
    """

    max_len: int
    """Longest text one platform message may hold (after :meth:`render`)."""

    min_edit_interval: float
    """Seconds between two edits of one answer."""

    edit_budget: EditBudget | None
    """A budget shared with other answers (e.g. one Slack workspace), or None."""

    def render(self, markdown: str) -> str:
        """Turn Dify's Markdown into the platform's text format."""
        ...

    async def show_thinking(self) -> None:
        """Show that an answer is coming (typing indicator, reaction...)."""
        ...

    async def clear_thinking(self) -> None:
        """Remove what :meth:`show_thinking` showed, if anything remains."""
        ...

    async def post(self, text: str, *, controls: Controls | None = None) -> str:
        """Post a new message in the thread; return its message key."""
        ...

    async def edit(
        self, message_key: str, text: str, *, final: bool, controls: Controls | None = None
    ) -> None:
        """Replace the text (and buttons) of a message posted by :meth:`post`.

        ``final`` is True for the last edit of the answer: it must not be
        dropped, only delayed. ``controls`` None means no buttons.
        """
        ...
