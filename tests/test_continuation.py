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


def test_a_long_answer_without_spaces_is_cut_after_a_sentence():
    # Chinese and Japanese put no space after 。！？ and none between words
    sentence = "这是一个很长的中文回答，里面没有空格。"
    text = sentence * 30
    cut = find_cut(text, 100)
    assert cut is not None, "a long Chinese paragraph must not wait for the final"
    assert text[:cut].endswith("。")
    assert cut >= 100


def test_a_line_cut_leaves_the_next_line_its_indentation():
    nested = "- item one\n  - nested item two\n  - nested item three"
    cut = find_cut(nested, 3)
    assert cut is not None
    assert nested[cut:].startswith("  - nested"), "the next piece keeps its nesting"
    code = "Text here.\n\n    indented code line 1\n    indented code line 2"
    cut = find_cut(code, 12)
    assert cut is not None
    assert code[cut:].startswith("    "), "an indented code block stays one"
