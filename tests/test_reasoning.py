"""A model's ``<think>`` blocks never reach the answer, however the chunks split them."""

from __future__ import annotations

import pytest

from dify_bridge.core.reasoning import ReasoningFilter, strip_reasoning


def streamed(*chunks: str) -> tuple[list[str], str]:
    """The answer shown after each chunk, and the final one."""
    answer = ReasoningFilter()
    shown = []
    for chunk in chunks:
        answer.feed(chunk)
        shown.append(answer.text)
    return shown, answer.finish()


def test_a_tag_split_across_chunks_is_still_a_tag() -> None:
    shown, final = streamed("Sure. <thi", "nk>the user wants", " a number</thi", "nk>42")
    assert final == "Sure. 42"
    assert shown == ["Sure. ", "Sure. ", "Sure. ", "Sure. 42"], "no piece of a tag is ever shown"


@pytest.mark.parametrize("cut", range(1, len("<think>")))
def test_every_split_of_the_opening_tag(cut: int) -> None:
    text = "A <think>secret</think>B"
    assert streamed(text[: 2 + cut], text[2 + cut :])[1] == "A B"


def test_a_tag_one_character_per_chunk() -> None:
    _, final = streamed(*"Hi <think>hidden</think>there")
    assert final == "Hi there"


def test_an_unclosed_block_is_reasoning_until_the_end() -> None:
    answer = ReasoningFilter()
    answer.feed("<think>still wondering whether")
    assert answer.thinking and answer.text == ""
    answer.feed(" to say more")
    assert answer.finish() == "", "an answer cut inside its thoughts shows none of them"


def test_several_blocks_and_text_around_them() -> None:
    _, final = streamed("First <think>one</think>", "second <think>two</thi", "nk>third.")
    assert final == "First second third."


def test_blank_lines_after_the_thoughts_are_not_the_answer() -> None:
    _, final = streamed("<think>\nplan\n</think>", "\n\n", "The answer.")
    assert final == "The answer."


def test_a_lone_closing_tag_ends_reasoning_that_had_no_opening_tag() -> None:
    # DeepSeek-R1 behind a chat template: the opening tag was in the prompt
    shown, final = streamed("Let me think", " about it.</think>", "\n\nYes.")
    assert final == "Yes."
    assert shown[-1] == "Yes."


def test_text_that_only_looks_like_a_tag_is_answer_text() -> None:
    _, final = streamed("Use a < b and <thin", "gs> like <b>bold</b>")
    assert final == "Use a < b and <things> like <b>bold</b>"


def test_an_answer_ending_in_a_piece_of_a_tag_keeps_it() -> None:
    assert streamed("x <thi")[1] == "x <thi"


def test_a_replaced_answer_is_filtered_and_goes_on_from_there() -> None:
    answer = ReasoningFilter()
    answer.feed("old text")
    answer.replace("New <think>half a tho")
    assert answer.text == "New " and answer.thinking
    answer.feed("ught</think>end")
    assert answer.finish() == "New end"
    assert answer.seen


def test_text_without_reasoning_is_untouched() -> None:
    text = "  Plain answer\n\nwith *Markdown* and `code` <tags>.  "
    assert strip_reasoning(text) == text
    answer = ReasoningFilter()
    answer.feed(text)
    assert not answer.seen
