"""A chatflow answer on Slack and on Discord, through slack-bolt and discord.py.

The fake chatflow's run goes on while our stream is broken, so only a resume
with Dify's state snapshot shows the whole answer; reasoning and workflow
steps show as a passing status line, never in any text the platform was sent.
"""

from __future__ import annotations

import pytest

from dify_bridge.core import notices
from tests.fakes.chatflow import FakeChatflow, Until
from tests.places import Place, split_status

pytestmark = pytest.mark.reliability

WORDS = ["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight ", "nine ", "ten."]
WHOLE = "".join(WORDS)


def answers_seen(place: Place) -> list[str]:
    return [split_status(text)[0] for text in place.seen()]


async def test_a_dropped_stream_resumes_and_the_thread_shows_the_whole_answer_once(
    place: Place, chatflow: FakeChatflow
) -> None:
    # the thread shows the first words, then the stream drops and three go to no one
    shown_so_far = Until(lambda: place.latest().startswith("one two three four"))
    chatflow.script([*WORDS[:4], shown_so_far, *WORDS[4:]], break_after=5, while_away=3)
    async with place.running():
        await place.ask("count to ten")
        await place.ended()

    (run,) = chatflow.runs.values()
    assert run.sent_while_away == WORDS[4:7], "the run went on while no one listened"
    assert place.texts() == [WHOLE], "the whole answer, each word once"
    for shown in answers_seen(place):
        assert WHOLE.startswith(shown.rstrip("…").rstrip()), f"a word twice or missing: {shown!r}"
    assert len(chatflow.chat_posts) == 1, "the question is sent to Dify once"
    (resume,) = chatflow.resumes
    assert resume.query["include_state_snapshot"] == "true"


def reasoning(text: str, *, final: bool = False) -> dict[str, object]:
    return {"event": "reasoning_chunk", "data": {"reasoning": text, "is_final": final}}


def thinking_under(place: Place, text: str) -> Until:
    """The run waits until the thread shows ``text`` with the Thinking… status."""
    return Until(lambda: place.latest().strip() == text and place.status_now() == notices.THINKING)


def assert_no_reasoning_seen(place: Place) -> None:
    for shown in place.seen():  # intermediate texts too, not only the final one
        assert "THOUGHT" not in shown and "<thi" not in shown and "nk>" not in shown, shown
        assert "think" not in split_status(shown)[0].lower(), shown
    assert place.status_now() == "", "the status is gone at the end"


async def test_think_blocks_are_a_passing_status_and_never_in_any_text_the_platform_saw(
    place: Place, chatflow: FakeChatflow
) -> None:
    chatflow.script(
        [
            "Sure. <think>INLINE-THOUGHT",  # the first words and an unclosed block at once
            thinking_under(place, "Sure."),
            " still INLINE-THOUGHT</thi",
            "nk>\n\nThe answer",
            " is <th",
            "ink>SECOND-THOUGHT",  # a split tag, unclosed while the thread shows it
            thinking_under(place, "Sure. The answer is"),
            "</think>42.",
        ]
    )
    async with place.running():
        await place.ask("what is it?")
        await place.ended()

    assert place.texts() == ["Sure. The answer is 42."]
    assert_no_reasoning_seen(place)


async def test_reasoning_events_are_a_passing_status_and_never_text(
    place: Place, chatflow: FakeChatflow
) -> None:
    chatflow.script(
        [
            reasoning("SEPARATE-THOUGHT"),
            thinking_under(place, ""),
            reasoning("", final=True),
            "The answer ",
            "is 42.",
        ]
    )
    async with place.running():
        await place.ask("what is it?")
        await place.ended()

    assert place.texts() == ["The answer is 42."]
    assert_no_reasoning_seen(place)


async def test_workflow_steps_are_a_live_status_and_gone_from_the_answer(
    place: Place, chatflow: FakeChatflow
) -> None:
    def node(title: str, kind: str) -> dict[str, object]:
        return {"event": "node_started", "data": {"title": title, "node_type": kind, "index": 2}}

    def showing(status: str) -> Until:
        return Until(lambda: place.status_now() == status)

    chatflow.script(
        [
            node("Search the handbook", "knowledge-retrieval"),
            showing("⚙️ Search the handbook…"),
            node("Summarise", "llm"),
            showing("⚙️ Summarise…"),
            node("Answer", "answer"),
            "The short ",
            node("Check the facts", "tool"),  # a step while the answer is written
            showing("⚙️ Check the facts…"),
            "version.",
        ]
    )
    async with place.running():
        await place.ask("summarise it")
        await place.ended()

    shown = place.statuses()
    statuses = [s for n, s in enumerate(shown) if s and shown[n - 1 : n] != [s]]  # as it changed
    assert statuses[-3:] == ["⚙️ Search the handbook…", "⚙️ Summarise…", "⚙️ Check the facts…"]
    assert place.status_now() == ""
    assert place.texts() == ["The short version."]
    if place.status_outside_text:
        assert not any("⚙️" in text for text in place.seen()), "a stream's status is no text"
