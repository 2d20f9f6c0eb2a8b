"""The sink against the fake Web API: what each call does and how failures surface."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dify_bridge.adapters.slack.client import (
    SlackCallFailed,
    SlackMessageTooLong,
    make_web_client,
)
from dify_bridge.adapters.slack.sink import THINKING_REACTION, SlackSink
from dify_bridge.core import Message
from tests.fakes.slack import FakeSlack


def _text(text: str) -> Message:
    """One message of plain text, as the writer hands it over."""
    return Message(text, (text,))


@pytest.fixture
async def sink(fake_slack: FakeSlack) -> AsyncIterator[SlackSink]:
    question = fake_slack.add_message("C1", "a question")
    client = make_web_client(fake_slack.bot_token, fake_slack.api_url)
    yield SlackSink(
        client,
        team_id=fake_slack.team_id,
        channel="C1",
        thread_ts=question.ts,
        reply_to_ts=question.ts,
        edit_budget=None,
    )


async def test_post_edit_and_thinking(sink: SlackSink, fake_slack: FakeSlack):
    (question,) = fake_slack.messages.values()
    await sink.show_thinking()
    assert fake_slack.reactions_on("C1", question.ts) == {THINKING_REACTION: ["UBOT"]}

    key = await sink.post(_text("first words"))
    await sink.edit(key, _text("first words and more"), final=True)
    await sink.clear_thinking()
    await sink.clear_thinking()  # twice is harmless

    (answer,) = fake_slack.thread("C1", question.ts)
    assert key == f"slack:{fake_slack.team_id}:C1:{answer.ts}"
    assert answer.text == "first words and more" and answer.edits == 1
    assert fake_slack.reactions_on("C1", question.ts) == {}


async def test_a_too_long_edit_raises_a_clear_error(sink: SlackSink):
    key = await sink.post(_text("short"))
    with pytest.raises(SlackMessageTooLong):
        await sink.edit(key, _text("x" * 4001), final=True)


async def test_edit_failures_name_slacks_error(sink: SlackSink, fake_slack: FakeSlack):
    with pytest.raises(SlackCallFailed, match="message_not_found"):
        await sink.edit(f"slack:{fake_slack.team_id}:C1:1.0", _text("text"), final=False)
    key = await sink.post(_text("fine"))
    fake_slack.fail_next("chat.update", status=500, error="internal_error")
    with pytest.raises(SlackCallFailed, match="internal_error"):
        await sink.edit(key, _text("text"), final=False)


async def test_a_429_is_waited_out_and_the_call_goes_through(
    sink: SlackSink, fake_slack: FakeSlack
):
    fake_slack.fail_next("chat.postMessage", retry_after=1)
    key = await sink.post(_text("after a pause"))
    posts = fake_slack.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 1.0
    (answer,) = [m for m in fake_slack.messages.values() if m.user == fake_slack.bot_user_id]
    assert key.endswith(answer.ts) and answer.text == "after a pause"


async def test_a_missing_thinking_target_does_not_fail_the_answer(
    sink: SlackSink, fake_slack: FakeSlack
):
    fake_slack.messages.clear()
    await sink.show_thinking()  # message_not_found: logged, not raised
    await sink.clear_thinking()
    assert fake_slack.calls_to("reactions.remove") == []
