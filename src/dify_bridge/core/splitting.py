"""Split a long answer into platform-sized messages.

Cuts fall on a paragraph, line or word boundary when one is near the limit.
A cut inside a fenced code block closes the fence at the end of one message
and reopens it (with its language) at the start of the next, so both render
as code.
"""

from __future__ import annotations

from dataclasses import dataclass

FENCE = "```"
_CLOSE = "\n" + FENCE


@dataclass(frozen=True)
class Piece:
    """One message: ``reopen + body + close``; the bodies rejoin to the input."""

    reopen: str
    body: str
    close: str

    @property
    def text(self) -> str:
        return self.reopen + self.body + self.close


def split_message(text: str, max_len: int) -> list[str]:
    """Messages of at most ``max_len`` characters that together show ``text``."""
    return [piece.text for piece in split_pieces(text, max_len)]


def split_pieces(text: str, max_len: int) -> list[Piece]:
    if max_len < 40:
        raise ValueError("max_len is too small to split into readable messages")
    pieces: list[Piece] = []
    rest = text
    fence = ""  # the opening line of a code block that is open where `rest` starts
    while True:
        reopen = fence + "\n" if fence else ""
        if len(reopen) + len(rest) <= max_len:
            pieces.append(Piece(reopen, rest, ""))
            return pieces
        budget = max_len - len(reopen) - len(_CLOSE)
        cut = _best_cut(rest, budget)
        body, rest = rest[:cut], rest[cut:]
        fence = _open_fence_after(body, fence)
        close = _CLOSE if fence else ""
        if fence and body.endswith("\n"):
            close = FENCE
        pieces.append(Piece(reopen, body, close))


def _best_cut(text: str, budget: int) -> int:
    """Where to end the next message: after a paragraph, line or word if one is near."""
    window = text[:budget]
    floor = budget // 3  # never give up more than two thirds of a message for a nicer cut
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= floor:
            return at + len(separator)
    return budget


def _open_fence_after(body: str, fence: str) -> str:
    """The fence still open at the end of ``body`` given the one open at its start."""
    for line in body.split("\n"):
        stripped = line.strip()
        if stripped.startswith(FENCE):
            fence = "" if fence else stripped[:24]
    return fence


__all__ = [
    "FENCE",
    "Piece",
    "split_message",
    "split_pieces",
]
