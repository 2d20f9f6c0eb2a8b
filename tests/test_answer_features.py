"""Stop, buttons, suggestions, citations and files, through the real engine."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from dify_bridge.core.types import Attachment, Controls, Rating, Reaction
from tests.fakes.dify import FakeDify

from .support import RecordingSink, incoming, running_bridge


async def wait_for_text(sink: RecordingSink) -> None:
    async with asyncio.timeout(10):
        while not sink.messages:
            await asyncio.sleep(0.01)


async def test_stop_keeps_the_text_so_far_and_tells_dify(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.script([f"w{i} " for i in range(300)], delay=0.02)
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        turn = asyncio.create_task(rt.bridge.handle_message(incoming("t1", "go"), sink))
        await wait_for_text(sink)
        assert list(sink.controls.values())[-1] == Controls(stop=True), (
            "Stop button while streaming"
        )
        key = next(iter(sink.messages))
        assert await rt.bridge.stop_answer(message_key=key)
        await asyncio.wait_for(turn, 10)
        assert not await rt.bridge.stop_answer(thread_key="test:t1"), "nothing left to stop"
    assert sink.visible.startswith("w0 ")
    assert sink.visible.endswith("_(Stopped.)_")
    assert len(sink.visible) < 300 * 4
    (task,) = {m.task_id for m in fake_dify.messages.values()}
    assert fake_dify.stops == [(task, "test:t1")]
    final_controls = sink.controls[key]
    assert final_controls is not None and not final_controls.stop, "the Stop button is removed"


async def test_final_answer_has_feedback_buttons_and_suggestions(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.parameters["suggested_questions_after_answer"] = {"enabled": True}
    fake_dify.suggested_questions = ["Why?", "How?", "What next?", "And then?"]
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t1", "hello"), sink)
    (controls,) = [c for c in sink.controls.values() if c]
    assert controls == Controls(feedback=True, suggestions=("Why?", "How?", "What next?"))


async def test_a_reaction_while_the_suggestions_load_rates_the_answer(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    """The app's LLM may take seconds to suggest follow-ups: the answer is rateable already."""
    fake_dify.parameters["suggested_questions_after_answer"] = {"enabled": True}
    fake_dify.suggestions_held = asyncio.Event()
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        answering = asyncio.create_task(rt.bridge.handle_message(incoming("t1", "hello"), sink))
        while not any("/suggested" in r.path for r in fake_dify.requests):
            await asyncio.sleep(0.01)
        (key,) = sink.messages
        assert await rt.bridge.handle_reaction(Reaction(key, Rating.LIKE, "U1"))
        fake_dify.suggestions_held.set()
        await answering
    (message,) = [m for c in fake_dify.conversations.values() for m in c.messages]
    assert message.rating == "like"


async def test_buttons_can_be_turned_off(fake_dify: FakeDify, tmp_path: Path) -> None:
    fake_dify.parameters["suggested_questions_after_answer"] = {"enabled": True}
    sink = RecordingSink()
    env = {"STOP_BUTTON": "false", "FEEDBACK_BUTTONS": "false", "SUGGESTED_QUESTIONS": "false"}
    async with running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt:
        await rt.bridge.handle_message(incoming("t1", "hello"), sink)
    assert set(sink.controls.values()) == {None}


async def test_only_the_last_part_of_a_long_answer_carries_the_buttons(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.script("\n\n".join(["paragraph " * 20] * 6))
    sink = RecordingSink(max_len=400)
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t1", "long"), sink)
    controls = list(sink.controls.values())
    assert len(controls) > 2
    assert controls[:-1] == [None] * (len(controls) - 1)
    assert controls[-1] == Controls(feedback=True)


async def test_citations_are_listed_under_the_answer(fake_dify: FakeDify, tmp_path: Path) -> None:
    fake_dify.script(
        "Dify is an LLM app platform.",
        citations=[
            {
                "dataset_name": "Docs",
                "document_name": "intro.md",
                "content": "Dify is an open-source platform",
            },
            {"dataset_name": "Docs", "document_name": "faq.md", "content": "x" * 300},
        ],
    )
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t1", "what is dify"), sink)
    assert sink.visible.startswith("Dify is an LLM app platform.\n\n*Sources*\n")
    assert "1. intro.md: Dify is an open-source platform" in sink.visible
    assert "2. faq.md: " + "x" * 117 + "…" in sink.visible


async def test_files_the_app_produces_are_linked(fake_dify: FakeDify, tmp_path: Path) -> None:
    fake_dify.script("Here is your chart.", files=[{"url": "/files/chart.png", "type": "image"}])
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t1", "chart"), sink)
    origin = fake_dify.url.removesuffix("/v1")
    assert f"📎 [image 1]({origin}/files/chart.png)" in sink.visible


def picture(size: int = 2048) -> Attachment:
    async def fetch(max_bytes: int) -> bytes:
        assert size <= max_bytes
        return b"\x89PNG" + b"\0" * (size - 4)

    return Attachment("photo.png", "image/png", size, "https://files.example/photo.png", fetch)


async def test_attachments_are_uploaded_as_the_thread_user(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.parameters["file_upload"] = {
        "enabled": True,
        "allowed_file_types": ["image"],
        "allowed_file_upload_methods": ["local_file"],
        "number_limits": 3,
    }
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(
            incoming("t1", "what is this?", attachments=(picture(),)), RecordingSink()
        )
    (upload,) = fake_dify.files.values()
    assert upload.user == "test:t1" and upload.name == "photo.png"
    (request,) = fake_dify.chat_requests
    assert request["files"] == [
        {"type": "image", "transfer_method": "local_file", "upload_file_id": upload.id}
    ]


async def test_refused_attachments_get_a_notice_and_the_text_is_answered(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t1", "look", attachments=(picture(),)), sink)
    assert fake_dify.files == {}
    assert "You said: **look**" in sink.visible
    assert sink.visible.endswith("_(photo.png was not sent: this assistant does not accept files)_")


async def test_opening_statement_starts_a_new_conversation(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.parameters["opening_statement"] = "Welcome! I answer questions about our product."
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, tmp_path / "b.db", OPENING_STATEMENT="true") as rt:
        await rt.bridge.handle_message(incoming("t1", "hi"), sink)
        await rt.bridge.handle_message(incoming("t1", "again"), sink)
    assert sink.texts[0] == "Welcome! I answer questions about our product."
    assert sum("Welcome!" in text for text in sink.texts) == 1


async def test_a_file_alone_is_resent_whole_after_a_lost_conversation(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.parameters["file_upload"] = {"enabled": True, "allowed_file_types": ["image"]}
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t1", "first"), RecordingSink())
        record = await rt.store.get_thread("test:t1")
        assert record is not None
        fake_dify.delete_conversation(record.conversation_id)
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t1", "", attachments=(picture(),)), sink)
    assert [r["query"] for r in fake_dify.chat_requests] == [
        "first",
        "(sent a file)",
        "(sent a file)",
    ]
    assert "⚠️" not in sink.visible


async def test_speaker_names_can_be_kept_out_of_questions(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_SPEAKER_NAMES": "false"}
    shared = replace(incoming("t1", "hello", user_name="Ada", shared=True), platform="slack")
    async with running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt:
        await rt.bridge.handle_message(shared, RecordingSink())
    async with running_bridge(fake_dify.url, tmp_path / "c.db") as rt:
        await rt.bridge.handle_message(shared, RecordingSink())
    assert [r["query"] for r in fake_dify.chat_requests] == ["hello", "Ada: hello"]


def test_a_stopped_chatflow_is_a_stop_not_an_error() -> None:
    from dify_bridge.dify.events import WorkflowFinished, parse_event

    stopped = {
        "event": "workflow_finished",
        "data": {"status": "stopped", "error": "stopped by user"},
    }
    assert isinstance(parse_event(stopped), WorkflowFinished)
