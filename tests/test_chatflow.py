"""Chatflow answers through the whole bridge, against a chatflow that runs on in Dify.

Real sockets and true SSE: the fake's workflow run keeps sending while our
connection is broken, so only a resume with Dify's state snapshot shows the
whole answer; reasoning and the steps of a long workflow show as a passing
status and never in the answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dify_bridge.core import notices
from dify_bridge.dify.events import NodeStarted, ReasoningDelta, parse_event
from dify_bridge.dify.streaming import RESUME_ATTEMPTS
from dify_bridge.ops.runtime import Runtime

from .fakes.chatflow import BreakKind, FakeChatflow, Until
from .support import RecordingSink, incoming, running_bridge

pytestmark = pytest.mark.reliability

WORDS = ["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight ", "nine ", "ten "]
WHOLE = "".join(WORDS)


def turns(rt: Runtime, outcome: str) -> float:
    labels = {"platform": "test", "outcome": outcome}
    return rt.bridge.metrics.registry.get_sample_value("dify_bridge_turns_total", labels) or 0.0


def answers_shown(sink: RecordingSink) -> list[str]:
    """Every text the thread showed, without the live status line under it."""
    return [text.split("\n\n_")[0] for kind, _, text in sink.calls]


def shows(sink: RecordingSink, piece: str) -> Until:
    return Until(lambda: any(piece in text for _, _, text in sink.calls))


async def still_answers(rt: Runtime, chatflow: FakeChatflow) -> None:
    chatflow.script(["All ", "good."])
    other = RecordingSink()
    await rt.bridge.handle_message(incoming("other", "and now?"), other)
    assert other.texts == ["All good."]


@pytest.mark.parametrize("cut", ["reset", "eof", "stall"])
async def test_a_broken_chatflow_stream_is_resumed_and_shows_the_whole_answer_once(
    cut: BreakKind, chatflow: FakeChatflow, tmp_path: Path
) -> None:
    chatflow.script(WORDS, break_after=4, break_kind=cut, while_away=3)
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db", DIFY_READ_TIMEOUT="0.5") as rt:
        await rt.bridge.handle_message(incoming("t", "count to ten"), sink)

        (run,) = chatflow.runs.values()
        assert run.sent_while_away == WORDS[4:7], "the run went on while no one listened"
        assert sink.texts == [WHOLE], "the whole answer, each word once"
        for shown in answers_shown(sink):
            assert WHOLE.startswith(shown), f"a word shown twice or out of order: {shown!r}"
        assert any(notices.RECONNECTING in text for _, _, text in sink.calls)
        assert len(chatflow.chat_posts) == 1, "the question is never sent again"
        (resume,) = chatflow.resumes
        assert resume.path == f"/v1/workflow/{run.id}/events"
        assert resume.query == {"user": "test:t", "include_state_snapshot": "true"}
        assert turns(rt, "answered") == 1
        (key,) = sink.messages
        assert sink.controls[key] is not None and sink.controls[key].feedback, "a whole answer"
        await still_answers(rt, chatflow)


async def test_a_run_that_ended_while_disconnected_shows_its_stored_answer(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    source = {"position": 1, "document_name": "handbook.pdf", "content": "Counting rules."}
    chatflow.script(WORDS, break_after=3, while_away=None, citations=[source])
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "count to ten"), sink)

        (run,) = chatflow.runs.values()
        assert run.sent_while_away == WORDS[3:], "all the rest went to no one"
        (text,) = sink.texts
        answer, _, sources = text.partition("\n\n")
        assert answer.strip() == WHOLE.strip()
        assert "handbook.pdf" in sources, "the sources of the stored message"
        assert len(chatflow.requests_to("/v1/messages", "GET")) == 1
        assert len(chatflow.chat_posts) == 1
        assert turns(rt, "answered") == 1


async def test_a_run_that_cannot_be_resumed_ends_as_cut_off_after_a_few_tries(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    chatflow.refuse_resumes = 99
    chatflow.script(WORDS, break_after=2)
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "count to ten"), sink)

        assert sink.texts == [f"one two \n\n⚠️ {notices.CUT_OFF}"]
        assert len(chatflow.resumes) == RESUME_ATTEMPTS
        assert len(chatflow.chat_posts) == 1
        assert turns(rt, "cut_off") == 1
        await still_answers(rt, chatflow)


async def test_a_run_dify_does_not_know_is_not_tried_again(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    # another user's run, or a Dify without the events endpoint
    chatflow.refuse_resumes, chatflow.resume_refusal = 1, (404, "not_found", "Not Found")
    chatflow.script(WORDS, break_after=2)
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "count to ten"), sink)
        assert sink.texts == [f"one two \n\n⚠️ {notices.CUT_OFF}"]
        assert len(chatflow.resumes) == 1
        await still_answers(rt, chatflow)


class AudioRecordingSink(RecordingSink):
    def __init__(self) -> None:
        super().__init__()
        self.audio: list[bytes] = []

    async def post_audio(self, name: str, data: bytes, mime_type: str) -> str:
        self.audio.append(data)
        return f"audio:{name}"


async def test_reasoning_shows_as_a_passing_status_and_never_in_the_answer(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    chatflow.parameters["text_to_speech"] = {"enabled": True, "voice": "alloy"}
    sink = AudioRecordingSink()
    chatflow.script(
        [
            {
                "event": "reasoning_chunk",
                "data": {"reasoning": "SEPARATE-THOUGHT", "is_final": False},
            },
            shows(sink, notices.THINKING),
            {"event": "reasoning_chunk", "data": {"reasoning": "", "is_final": True}},
            "Sure. <thi",
            "nk>INLINE-THOUGHT",
            shows(sink, notices.THINKING),
            " still INLINE-THOUGHT</thi",
            "nk>\n\nThe answer",
            " is 42.",
        ],
        citations=[{"position": 1, "document_name": "facts.md", "content": "42 is the answer."}],
    )
    async with running_bridge(chatflow.url, tmp_path / "b.db", VOICE_REPLIES="always") as rt:
        await rt.bridge.handle_message(incoming("t", "what is it?"), sink)

    (text,) = sink.texts
    assert text.startswith("Sure. The answer is 42.\n\n")
    assert "facts.md" in text
    for _, _, shown in sink.calls:
        assert "THOUGHT" not in shown and "<thi" not in shown and "nk>" not in shown, shown
    assert notices.THINKING not in text, "the status is gone from the final answer"
    (spoken,) = chatflow.speech_requests
    assert spoken["text"] == "Sure. The answer is 42." and "message_id" not in spoken, (
        "the reply is spoken from the text shown, not from Dify's text with its thoughts"
    )
    assert len(sink.audio) == 1


async def test_the_steps_of_a_long_workflow_show_as_they_advance(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    sink = RecordingSink()
    search = {"title": "Search the handbook", "node_type": "knowledge-retrieval", "index": 2}
    summarise = {"title": "Summarise", "node_type": "llm", "index": 3}
    answer = {"title": "Answer", "node_type": "answer", "index": 4}
    chatflow.script(
        [
            {"event": "node_started", "data": search},
            shows(sink, "⚙️ Search the handbook…"),
            {"event": "node_finished", "data": search},
            {"event": "node_started", "data": summarise},
            shows(sink, "⚙️ Summarise…"),
            {"event": "node_started", "data": answer},
            "The short ",
            "version.",
        ]
    )
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "summarise it"), sink)

    assert sink.texts == ["The short version."]
    statuses = [text for _, _, text in sink.calls if "⚙️" in text]
    assert statuses[0] != statuses[-1], "the status line is replaced as the steps advance"
    assert not any("⚙️ Answer" in text for _, _, text in sink.calls)


def test_workflow_steps_and_reasoning_are_typed_events() -> None:
    node = parse_event(
        {
            "event": "node_started",
            "task_id": "t1",
            "workflow_run_id": "r1",
            "data": {
                "title": "Search",
                "node_type": "knowledge-retrieval",
                "node_id": "n",
                "index": 2,
            },
        }
    )
    assert node == NodeStarted(
        task_id="t1", title="Search", node_type="knowledge-retrieval", node_id="n", index=2
    )
    thought = parse_event(
        {"event": "reasoning_chunk", "data": {"reasoning": "hm", "is_final": False}}
    )
    assert thought == ReasoningDelta(text="hm", final=False)
    last = parse_event({"event": "reasoning_chunk", "data": {"reasoning": "", "is_final": True}})
    assert last == ReasoningDelta(text="", final=True)
    odd = parse_event({"event": "node_started", "data": {"title": 7, "index": "x"}})
    assert odd == NodeStarted()


async def test_a_follow_up_question_whose_run_ended_while_disconnected_shows_the_whole_answer(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        chatflow.script(["First ", "answer."])
        first = RecordingSink()
        await rt.bridge.handle_message(incoming("t", "hello"), first)
        assert first.texts == ["First answer."]

        chatflow.script(WORDS, break_after=3, while_away=None)
        second = RecordingSink()
        await rt.bridge.handle_message(incoming("t", "count to ten"), second)

        assert len({run.conversation_id for run in chatflow.runs.values()}) == 1, "one thread"
        assert [text.strip() for text in second.texts] == [WHOLE.strip()]
        assert len(chatflow.requests_to("/v1/messages", "GET")) == 1
