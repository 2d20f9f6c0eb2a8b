"""Which text goes into which message, and into which block of a message: decided once.

The writer lays an answer out here from the limits its sink declares; a sink
only renders the :class:`~dify_bridge.core.ports.Message` values it is given.
"""

from __future__ import annotations

from dify_bridge.core.notices import CUT_NOTICE
from dify_bridge.core.ports import Message, ReplySink
from dify_bridge.core.splitting import split_message, split_pieces
from dify_bridge.core.types import Controls

__all__ = ["MAX_PARTS", "lay_out", "notice_message"]

MAX_PARTS = 30
"""Messages one answer may fill before it is cut (a runaway answer must not flood a thread)."""


def lay_out(
    markdown: str, sink: ReplySink, *, controls: Controls | None, max_parts: int = MAX_PARTS
) -> list[Message]:
    """The messages that show ``markdown``; ``controls`` go under the last one."""
    if not markdown.strip():
        return []
    limit = sink.limits.message_chars
    # a runaway answer is cut anyway: render and split a bounded prefix only
    texts = _texts(sink.render(markdown[: 2 * max_parts * limit]), sink, max_parts)
    last = len(texts) - 1
    return [
        _message(text, sink, controls if index == last and controls else None)
        for index, text in enumerate(texts)
    ]


def notice_message(markdown: str, sink: ReplySink) -> Message:
    """A short notice as one message (notices are far below any platform limit)."""
    (text, *_) = split_message(sink.render(markdown), sink.limits.message_chars)
    return _message(text, sink, None)


def _texts(rendered: str, sink: ReplySink, max_parts: int) -> list[str]:
    limit = sink.limits.message_chars
    pieces = split_pieces(rendered, limit)
    if len(pieces) <= max_parts:
        return [piece.text for piece in pieces]
    # runaway answer: keep the first pieces as they are, fill the last one up
    # to room for the notice with the text that follows, and stop there
    notice = sink.render(CUT_NOTICE)
    kept = pieces[: max_parts - 1]
    rest = "".join(piece.body for piece in pieces[max_parts - 1 :])[:limit]
    reopen = pieces[max_parts - 1].reopen
    (last, *_) = split_pieces(reopen + rest, limit - len(notice))
    return [piece.text for piece in kept] + [last.text + notice]


def _message(text: str, sink: ReplySink, controls: Controls | None) -> Message:
    block = sink.limits.block_chars
    blocks = tuple(split_message(text, block)) if block and len(text) > block else (text,)
    return Message(text, blocks, controls)
