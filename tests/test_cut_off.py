"""An answer is complete only when Dify says so; any other end of the stream is a cut.

Through real sockets: the fake Dify ends its SSE response cleanly, resets the
TCP connection or goes silent past the read timeout, in the middle of an
answer; a chatflow pauses at a Human Input node.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from dify_bridge.adapters.console import ConsoleAdapter
from dify_bridge.core import notices
from dify_bridge.core.types import Controls, Rating, Reaction
from dify_bridge.ops.runtime import Runtime
from tests.fakes.dify import FakeDify

from .support import RecordingSink, incoming, running_bridge

pytestmark = pytest.mark.reliability

CUTS: dict[str, Callable[[FakeDify], None]] = {
    "clean EOF": lambda f: f.script(["Half ", "an ", "answer"], end_after=2),
    "TCP reset": lambda f: f.script(["Half ", "an ", "answer"], reset_after=2),
    "read timeout": lambda f: f.script(["Half ", "an ", "answer"], stall_after=2),
}


def turns(rt: Runtime, outcome: str) -> float:
    labels = {"platform": "test", "outcome": outcome}
    return rt.bridge.metrics.registry.get_sample_value("dify_bridge_turns_total", labels) or 0.0


def errors(rt: Runtime, kind: str) -> float:
    value = rt.bridge.metrics.registry.get_sample_value("dify_bridge_errors_total", {"kind": kind})
    return value or 0.0


def every_feature_on(fake: FakeDify) -> None:
    """Suggestions and speech on, so a cut answer would show them if it were taken as whole."""
    fake.parameters["suggested_questions_after_answer"] = {"enabled": True}
    fake.parameters["text_to_speech"] = {"enabled": True, "voice": "alloy", "language": "en"}


class AudioRecordingSink(RecordingSink):
    """A thread that can take the spoken answer too."""

    def __init__(self) -> None:
        super().__init__()
        self.audio: list[str] = []

    async def post_audio(self, name: str, data: bytes, mime_type: str) -> str:
        self.audio.append(name)
        return f"audio:{name}"


@pytest.fixture
async def chatflow() -> AsyncIterator[FakeDify]:
    fake = FakeDify(mode="advanced-chat")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.mark.parametrize("cut", list(CUTS))
async def test_an_answer_cut_off_mid_stream_is_not_shown_as_complete(
    cut: str, fake_dify: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    every_feature_on(fake_dify)
    CUTS[cut](fake_dify)
    sink = AudioRecordingSink()
    caplog.set_level(logging.INFO)
    env = {"DIFY_READ_TIMEOUT": "0.5", "VOICE_REPLIES": "always"}
    async with running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt:
        await rt.bridge.handle_message(incoming("t", "question"), sink)
        (message,) = fake_dify.messages.values()
        (key,) = sink.messages
        await rt.bridge.handle_reaction(Reaction(key, Rating.LIKE, "U1"))

        assert sink.texts == [f"Half an \n\n⚠️ {notices.CUT_OFF}"]
        assert set(sink.controls.values()) == {None}, "no feedback, suggestion or Stop buttons"
        assert turns(rt, "cut_off") == 1 and turns(rt, "answered") == 0
        assert errors(rt, "StreamCutOff") == 1
    assert sink.audio == [] and fake_dify.tts_requests == [], "a partial answer is not spoken"
    assert fake_dify.requests_to(f"/messages/{message.id}/suggested") == []
    assert fake_dify.requests_to(f"/messages/{message.id}/feedbacks") == [], (
        "a reaction on a partial answer is not feedback"
    )
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("cut off" in line for line in warned), warned
    assert "turn answered" not in caplog.text


async def test_a_stream_that_ends_before_any_text_is_cut_off_too(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.script(["never ", "sent"], end_after=0)
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "question"), sink)
        assert turns(rt, "cut_off") == 1
    assert sink.texts == [f"⚠️ {notices.CUT_OFF}"], "never the empty-answer notice"


async def test_a_cut_off_chatflow_is_cut_off(chatflow: FakeDify, tmp_path: Path) -> None:
    chatflow.script(["Half ", "an ", "answer"], end_after=2)
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "question"), sink)
        assert turns(rt, "cut_off") == 1
    assert sink.texts == [f"Half an \n\n⚠️ {notices.CUT_OFF}"]


async def test_a_paused_chatflow_says_it_waits_and_never_asks_again(
    chatflow: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    every_feature_on(chatflow)
    chatflow.script("Here is the draft.", human_input={"node_title": "Approval"})
    sink = AudioRecordingSink()
    caplog.set_level(logging.INFO)
    async with running_bridge(chatflow.url, tmp_path / "b.db", VOICE_REPLIES="always") as rt:
        await rt.bridge.handle_message(incoming("t", "write a refund letter"), sink)
        (message,) = chatflow.messages.values()
        assert turns(rt, "paused") == 1
        assert turns(rt, "answered") == 0 and turns(rt, "cut_off") == 0
        record = await rt.bridge.store.get_thread("test:t")
    answer, form = sink.texts
    assert answer == f"Here is the draft.\n\n{notices.FORM_BELOW}"
    assert form.startswith("📝 **Approval**") and "1. **Approve**" in form
    assert "ask again" not in sink.visible.lower() and "⚠️" not in sink.visible
    assert set(sink.controls.values()) == {None}
    assert sink.audio == [] and chatflow.requests_to(f"/messages/{message.id}/suggested") == []
    assert record is not None and record.conversation_id == message.conversation_id
    assert len(chatflow.chat_requests) == 1, "the workflow is not run a second time"
    assert "turn answered" not in caplog.text and "cut off" not in caplog.text


@pytest.mark.parametrize(
    "mode, order",
    [
        ("advanced-chat", "workflow_finished, then message_end"),
        ("advanced-chat", "message_end, then workflow_finished"),
        ("chat", "message_end only"),
        ("agent-chat", "message_end only"),
    ],
)
async def test_an_answer_dify_ends_is_answered(mode: str, order: str, tmp_path: Path) -> None:
    async with FakeDify(mode=mode) as fake:
        fake.script("A whole answer.", workflow_finished_first=order.startswith("workflow"))
        sink = RecordingSink()
        async with running_bridge(fake.url, tmp_path / "b.db") as rt:
            await rt.bridge.handle_message(incoming("t", "question"), sink)
            assert turns(rt, "answered") == 1
    assert sink.texts == ["A whole answer."]
    assert list(sink.controls.values()) == [Controls(feedback=True)]


async def test_the_console_does_not_rate_a_cut_off_answer(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    out = io.StringIO()
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        console = ConsoleAdapter(rt.bridge, source=io.StringIO(), out=out)
        fake_dify.script(["Half ", "an ", "answer"], end_after=2)
        assert await console.handle_line("question")
        assert await console.handle_line("/like")
        assert await console.handle_line("again, please")
        assert await console.handle_line("/like")
    shown = out.getvalue()
    assert f"Half an \n\n⚠️ {notices.CUT_OFF}" in shown
    assert "(the last answer was not complete, so it cannot be rated)" in shown
    first, second = fake_dify.messages.values()
    assert first.rating is None and second.rating == "like"
