"""Keeps a model's reasoning out of the answer while the text streams.

By default Dify leaves a reasoning model's thoughts inside the answer text as
``<think>…</think>`` (the LLM node's "tagged" reasoning format). The blocks
may be split anywhere across chunks (``<thi`` + ``nk>``), there may be
several, and a block is unclosed while the model still thinks. Some models
(DeepSeek-R1 behind a chat template) send no opening tag at all: everything
before a first lone ``</think>`` was reasoning.

:class:`ReasoningFilter` is fed the chunks as they come and keeps ``text``,
the answer so far without any of it; the end of a chunk that may be the
beginning of a tag is held back until the next chunk tells.
"""

from __future__ import annotations

__all__ = ["CLOSE", "OPEN", "ReasoningFilter", "strip_reasoning"]

OPEN = "<think>"
CLOSE = "</think>"


class ReasoningFilter:
    def __init__(self) -> None:
        self.text = ""
        """The answer so far, reasoning removed."""
        self.thinking = False
        """Inside an unclosed block now: the model is reasoning."""
        self.seen = False
        """Some reasoning was in the text (it stays set across :meth:`replace`)."""
        self._held = ""
        self._after_block = False

    def feed(self, chunk: str) -> None:
        """More answer text as Dify sent it."""
        text, self._held = self._held + chunk, ""
        while text:
            if self.thinking:
                end = text.find(CLOSE)
                if end < 0:  # all reasoning, but its end may be the start of </think>
                    self._held = _tag_start_at_end(text, (CLOSE,))
                    return
                text = text[end + len(CLOSE) :]
                self.thinking, self._after_block = False, True
                continue
            start, end = text.find(OPEN), text.find(CLOSE)
            if end >= 0 and (start < 0 or end < start) and not self.seen:
                # a lone </think> first: everything before it was reasoning
                self.text, self.seen, self._after_block = "", True, True
                text = text[end + len(CLOSE) :]
                continue
            if start < 0:
                self._held = _tag_start_at_end(text, (OPEN, CLOSE) if not self.seen else (OPEN,))
                self._answer(text[: len(text) - len(self._held)])
                return
            self._answer(text[:start])
            text = text[start + len(OPEN) :]
            self.thinking = self.seen = True

    def replace(self, text: str) -> None:
        """The whole answer so far is ``text`` (``message_replace``); later chunks go on from it."""
        self.text, self._held, self.thinking, self._after_block = "", "", False, False
        self.feed(text)

    def finish(self) -> str:
        """The end of the answer: a held-back piece that never became a tag is answer text,
        an unclosed block is dropped. Returns the final text."""
        held, self._held = self._held, ""
        if not self.thinking:
            self._answer(held)
        self.thinking = False
        return self.text

    def _answer(self, piece: str) -> None:
        if self._after_block and (not self.text or self.text[-1].isspace()):
            piece = piece.lstrip()  # the blank lines a model puts after its thoughts
            if not piece:
                return
        self._after_block = False
        self.text += piece


def _tag_start_at_end(text: str, tags: tuple[str, ...]) -> str:
    """The longest end of ``text`` that is a proper beginning of one of ``tags``."""
    for size in range(min(max(len(t) for t in tags) - 1, len(text)), 0, -1):
        end = text[-size:]
        if any(t.startswith(end) for t in tags):
            return end
    return ""


def strip_reasoning(text: str) -> str:
    """A whole text without its reasoning (an unclosed block is dropped)."""
    found = ReasoningFilter()
    found.feed(text)
    return found.finish()
