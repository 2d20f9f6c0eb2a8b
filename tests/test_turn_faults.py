"""Trouble that is no platform refusal, met mid-answer: the answer still ends cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dify_bridge.core import Message, notices

from .fakes.chatflow import FakeChatflow, Until
from .support import RecordingSink, incoming, running_bridge


class ResettingSink(RecordingSink):
    """A platform whose connection resets on the first edit of an answer in progress."""

    def __init__(self) -> None:
        super().__init__()
        self.edit_attempts = 0

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        self.edit_attempts += 1
        if self.edit_attempts == 1 and not final:
            raise ConnectionResetError(104, "Connection reset by peer")
        await super().edit(message_key, message, final=final)


async def test_a_connection_reset_on_an_edit_in_progress_still_writes_the_final_answer(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    sink = ResettingSink()
    chatflow.script(
        [
            "one ",
            Until(lambda: bool(sink.messages)),
            "two ",
            Until(lambda: sink.edit_attempts >= 1),
            "three",
        ]
    )
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "count"), sink)

    assert sink.texts == ["one two three"]
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "reply-writer"]


class BrokenFinalSink(RecordingSink):
    """A platform adapter with a bug in its first final edit of an answer."""

    def __init__(self) -> None:
        super().__init__()
        self.broke = False

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        if final and not self.broke:
            self.broke = True
            raise RuntimeError("a bug in the final edit")
        await super().edit(message_key, message, final=final)


async def test_a_bug_mid_answer_ends_it_with_a_notice_and_no_stop_button(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    sink = BrokenFinalSink()
    chatflow.script(["Half ", Until(lambda: bool(sink.messages)), "an answer."])
    async with running_bridge(chatflow.url, tmp_path / "b.db", STOP_BUTTON="true") as rt:
        await rt.bridge.handle_message(incoming("t", "count"), sink)

    assert sink.broke
    (key,) = sink.messages
    assert sink.messages[key] == f"Half an answer.\n\n⚠️ {notices.UNEXPECTED}"
    assert not (sink.controls[key] and sink.controls[key].stop), "the Stop button is gone"
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "reply-writer" and not t.done()]
