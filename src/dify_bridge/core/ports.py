"""What the engine needs from a platform: a place to show an answer, and a running adapter.

An adapter implements :class:`ReplySink` once per answer. The writer lays the
answer out from the sink's :class:`SinkLimits` (which text goes into which
message, and into which block of a message); a sink only renders one
:class:`Message` and performs the platform call. Every platform failure a
sink sees leaves it as :class:`~dify_bridge.errors.SinkError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from dify_bridge.core.pacing import EditBudget
from dify_bridge.core.types import Controls

__all__ = [
    "Adapter",
    "AnswerMarker",
    "AppendingSink",
    "AudioSink",
    "LeftAnswer",
    "Message",
    "ReplySink",
    "SinkLimits",
]


@dataclass(frozen=True)
class SinkLimits:
    """How much one platform message may hold, and how often one answer may be edited."""

    message_chars: int
    """Longest rendered text of one message."""
    block_chars: int | None = None
    """Longest piece a message is shown in (Slack's section blocks); None: one piece."""
    edit_interval: float = 1.0
    """Seconds between two edits of one answer."""


@dataclass(frozen=True)
class Message:
    """One message of an answer as the writer laid it out (already rendered)."""

    text: str
    """The whole text of the message, at most ``message_chars``."""
    blocks: tuple[str, ...]
    """The same text cut into pieces of at most ``block_chars`` (code fences kept whole)."""
    controls: Controls | None = None
    """Buttons under the message; None: no buttons (an edit takes earlier ones off)."""


class ReplySink(Protocol):
    """Where one answer is shown. Implemented by each adapter; raises only ``SinkError``."""

    limits: SinkLimits

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

    async def post(self, message: Message) -> str:
        """Post a new message in the thread; return its message key."""
        ...

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        """Replace a message posted by :meth:`post`.

        ``final`` is True for the last edit of the answer: it must not be
        dropped, only delayed.
        """
        ...


@runtime_checkable
class AudioSink(Protocol):
    """A sink that can also share a spoken answer (an audio file) in the thread."""

    async def post_audio(self, name: str, data: bytes, mime_type: str) -> str: ...


@runtime_checkable
class AppendingSink(Protocol):
    """A sink whose messages can grow in place (Slack's streaming messages).

    The writer still lays the answer out and paces it; for a message it
    opened with :meth:`open` it sends only what was added at the end of the text
    (:meth:`append`), and the last piece with the message's buttons when the
    message is complete (:meth:`close`). Whenever the new text does not
    extend what is shown (Dify replaced it, a split moved), the writer falls
    back to :meth:`ReplySink.edit`, which ends the growing first. Transient
    status lines never go into the text: they go to :meth:`show_status`.
    """

    async def open(self, message: Message) -> str | None:
        """Start a growing message showing ``message``; its key, or None when no
        growing message can be started now (the writer posts instead)."""
        ...

    async def append(self, message_key: str, text: str) -> bool:
        """Add ``text`` at the end of the growing message; False: it no longer grows."""
        ...

    async def close(self, message_key: str, text: str, message: Message) -> bool:
        """Add the last ``text`` and ``message``'s controls, and end the growing;
        False: it was no longer growing (the writer edits instead). Never dropped."""
        ...

    async def show_status(self, status: str) -> None:
        """Show (or, with "", clear) a transient status line outside the text.

        Called after each write of the answer while there is a status, so one the
        platform dropped when a message was posted comes back (a status already
        shown is the sink's to skip), and once with "" when it is over."""
        ...


class Adapter(Protocol):
    """A running connection to one platform."""

    name: str

    @property
    def healthy(self) -> bool:
        """True while started and connected as it should be: False before start, after
        stop, and while a websocket or gateway it keeps open is down (``/healthz``)."""
        ...

    async def start(self) -> None:
        """Connect and begin taking events; return once ready."""
        ...

    async def stop(self) -> None:
        """Stop taking new events and close connections."""
        ...


@dataclass(frozen=True)
class LeftAnswer:
    """An answer a replica that died was streaming, found by a survivor."""

    thread_key: str
    question_key: str
    """The user's message (its thinking indicator comes off); "" if unknown."""
    message_keys: tuple[str, ...]
    """The answer's messages so far, in order; empty if none was posted yet."""


@runtime_checkable
class AnswerMarker(Protocol):
    """An adapter that can mark another process's unfinished answer on its platform."""

    @property
    def can_mark(self) -> bool:
        """False while it cannot reach its platform yet (a replica standing by): the
        answers stay in the store for a survivor that can, instead of using up tries."""
        ...

    async def mark_interrupted(self, answer: LeftAnswer, notice: str) -> None:
        """Take the answer's Stop button and thinking indicator off and end it with the
        ``notice`` line (Markdown). Raises only ``SinkError``."""
        ...
