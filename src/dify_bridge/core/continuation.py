"""Where a growing answer may end one message and go on in the next, its Markdown intact.

When a workspace's edit budget cannot refresh every live answer often enough,
an answer grows by new messages instead of edits (:mod:`dify_bridge.core.writer`).
Each message it posts is final, so it must end where the Markdown can be cut:
a paragraph break first, else a line break, a sentence end, a space (in
Chinese or Japanese text, which has none, a full stop or a comma); never
inside a code fence, a table or an unclosed inline span (code, bold, a link),
which would show raw marks in both messages.
"""

from __future__ import annotations

import re

from dify_bridge.core.tables import hold_back_open_table

__all__ = ["find_cut"]

_CJK_CLOSERS = "」』）】》”’\"'"
_BOUNDARIES = (
    # the blank lines after a break go with it, the next line's indentation does not
    re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*"),  # paragraph
    re.compile(r"\n(?:[ \t]*\n)*"),  # line
    # Chinese and Japanese put no space after a sentence: one that goes on is its proof
    re.compile(rf"(?<=[.!?:;。！？；])[ \t]+|(?<=[。！？；])(?=[^\s{_CJK_CLOSERS}])"),  # sentence
    re.compile(r"[ \t]+|(?<=[，、])(?=\S)"),  # word
)
_INLINE_LEVEL = 2
"""Boundaries from this index on fall inside a line, where inline spans may be open."""
_FENCE_LINE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)


def find_cut(markdown: str, min_chars: int) -> int | None:
    """The end of the longest start of ``markdown`` that ends at the best boundary there
    is, the whitespace after it included; None: no such start yet.

    The start is at least ``min_chars`` long, or half that when it ends a paragraph:
    a whole paragraph reads better than a longer piece cut inside the next one.
    """
    text = hold_back_open_table(markdown)
    fenced = _fenced_spans(text)
    for level, pattern in enumerate(_BOUNDARIES):
        shortest = min_chars // 2 if level == 0 else min_chars
        best = None
        for match in pattern.finditer(text, min(shortest, len(text))):
            start, end = match.span()
            if any(a <= start < b for a, b in fenced):
                continue
            if level >= _INLINE_LEVEL and not _inline_closed(text, start):
                continue
            if level >= 1 and "|" in _line_before(text, start):
                continue  # a row of a table: cut only after the whole table
            best = end
        if best is not None and best >= shortest:
            return best
    return None


def _fenced_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges inside code fences; an unclosed fence runs to the end."""
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    for match in _FENCE_LINE.finditer(text):
        if opened is None:
            opened = match.start()
        else:
            line_end = text.find("\n", match.end())
            spans.append((opened, len(text) if line_end < 0 else line_end))
            opened = None
    if opened is not None:
        spans.append((opened, len(text) + 1))
    return spans


def _line_before(text: str, index: int) -> str:
    return text[text.rfind("\n", 0, index) + 1 : index]


def _inline_closed(text: str, index: int) -> bool:
    """No inline code, bold, strike or link is open at ``index`` of its paragraph."""
    paragraph = text[text.rfind("\n\n", 0, index) + 1 : index]
    return (
        paragraph.count("`") % 2 == 0
        and paragraph.count("**") % 2 == 0
        and paragraph.count("~~") % 2 == 0
        and paragraph.count("[") == paragraph.count("]")
        and paragraph.rfind("](") <= paragraph.rfind(")")
    )
