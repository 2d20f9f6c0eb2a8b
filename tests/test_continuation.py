"""Where a growing answer may be cut into a new message (:func:`find_cut`)."""

from __future__ import annotations

import pytest

from dify_bridge.core.continuation import find_cut


def piece(markdown: str, min_chars: int) -> str | None:
    cut = find_cut(markdown, min_chars)
    return None if cut is None else markdown[:cut]


def test_a_paragraph_break_wins_over_a_later_sentence_end():
    text = "One short paragraph here.\n\nThen a sentence. And another one that goes on"
    assert piece(text, 40) == "One short paragraph here.\n\n"


def test_without_a_paragraph_the_last_sentence_or_word_ends_the_piece():
    assert piece("A first sentence. A second sentence. And half of a thi", 10) == (
        "A first sentence. A second sentence. "
    )
    assert piece("words and words and wor", 5) == "words and words and "


def test_too_little_text_waits():
    assert piece("Hello there, friend", 100) is None
    assert piece("", 1) is None


def test_never_inside_a_code_fence():
    text = "Run this:\n\n```sh\nmake build\n\nmake test\n```\nand then more"
    cut = piece(text, 5)
    assert cut == "Run this:\n\n"
    # an unclosed fence: nothing in it, nor after it, can end a piece
    assert piece("```py\nline one\n\nline two\n", 3) is None


def test_never_inside_a_table_while_it_may_still_grow():
    table = "Intro.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 |"
    assert (piece(table, 3) or "").strip() == "Intro."


@pytest.mark.parametrize(
    "text",
    [
        "Some `inline code that is still open and goes",
        "Some **bold text that is still open and goes",
        "Some [link text](https://example.com/a path",
    ],
)
def test_never_inside_an_open_inline_span(text: str):
    assert piece(text, 3) in (None, "Some ")
