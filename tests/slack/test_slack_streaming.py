"""Answers as Slack streaming messages (``SLACK_STREAMING=auto``, the default), and the fallbacks."""

from __future__ import annotations

import asyncio
from typing import Any

from dify_bridge.adapters.slack.sink import MAX_MESSAGE_CHARS
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, eventually

ANSWER = "The office opens at nine and closes at five, and the desk helps with the rest."


def stream_calls(slack: FakeSlack) -> list[str]:
    methods = ("chat.startStream", "chat.appendStream", "chat.stopStream", "chat.update")
    return [c.method for c in slack.calls if c.method in methods and c.ok]


async def test_a_channel_thread_answer_streams_and_ends_with_native_feedback(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script(ANSWER, delay=0.15)

    ts = await slack_bot.ask("C1", "when is the office open?")

    assert slack.thread_texts("C1", ts) == [ANSWER]
    (start,) = slack.calls_to("chat.startStream")
    assert start.args["thread_ts"] == ts
    assert start.args["recipient_user_id"] == "U1"
    assert start.args["recipient_team_id"] == slack.team_id
    assert slack.calls_to("chat.appendStream"), "the answer grows by appends"
    assert not slack.calls_to("chat.update") and not slack.calls_to("chat.postMessage")
    (stop,) = slack.calls_to("chat.stopStream")
    (feedback,) = [b for b in stop.args["blocks"] if b["type"] == "context_actions"]
    assert feedback["elements"][0]["type"] == "feedback_buttons"
    (answer,) = slack.thread("C1", ts)
    assert not answer.streaming
    # a status under the thread before the first words
    (first_status,) = [c for c in slack.calls_to("assistant.threads.setStatus")][:1]
    assert first_status.args["status"] == "is thinking…"
    assert first_status.args["thread_ts"] == ts and first_status.at <= start.at


async def test_tool_status_goes_to_the_status_line_never_into_the_text(
    fake_slack: FakeSlack, tmp_path: Any
):
    from tests.fakes.dify import FakeDify
    from tests.slack.conftest import running_slack_bot

    async with FakeDify(mode="agent-chat") as dify:
        dify.script(ANSWER, delay=0.2, agent_thoughts=[{"tool": "search", "tool_input": "{}"}])
        async with running_slack_bot(fake_slack, dify, tmp_path / "b.db") as bot:
            ts = await bot.ask("C1", "look it up")
    slack = fake_slack
    assert slack.thread_texts("C1", ts) == [ANSWER]
    appended = "".join(str(c.args.get("markdown_text") or "") for c in slack.calls)
    assert "search" not in appended and "🔧" not in appended
    statuses = slack.statuses("C1", ts)
    assert any("search" in s for s in statuses), statuses
    assert statuses[-1] == "", "the status is cleared once the answer is done"


async def test_a_plain_dm_is_posted_and_edited_at_the_top_level(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script(ANSWER, delay=0.05)
    event = slack.user_message("D1", "hello", channel_type="im")
    await slack_bot.send(event)
    await slack_bot.answered("D1", event["ts"])

    assert slack.thread_texts("D1", None) == [ANSWER]
    assert not slack.calls_to("chat.startStream")


async def test_where_streams_are_not_allowed_the_answer_is_edited_instead(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    slack.no_stream_channels.add("C1")
    dify.script(ANSWER, delay=0.05)

    ts = await slack_bot.ask("C1", "hello")

    assert slack.thread_texts("C1", ts) == [ANSWER]
    refused = [c for c in slack.calls_to("chat.startStream") if not c.ok]
    assert [c.error for c in refused] == ["channel_type_not_supported"], (
        "tried once, not per update"
    )
    assert slack.calls_to("chat.postMessage")


async def test_a_stream_that_stops_being_one_is_finished_by_edits(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    words = [f"word{n} " for n in range(30)]
    dify.script(words, delay=0.08)
    event = slack.user_message("C1", "go", mention=True, event_type="app_mention")
    await slack_bot.send(event)
    await slack.wait_until(lambda: bool(slack.calls_to("chat.appendStream")))
    for message in slack.thread("C1", event["ts"]):
        message.streaming = False  # e.g. Slack timed the stream out
    await slack_bot.answered("C1", event["ts"])

    (text,) = slack.thread_texts("C1", event["ts"])
    assert text == "".join(words).strip() or text == "".join(words)
    errors = [c.error for c in slack.calls if c.error]
    assert "message_not_in_streaming_state" in errors
    assert slack.calls_to("chat.update"), "the rest came by an edit"


async def test_a_replaced_answer_ends_the_stream_and_is_edited(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script("A first draft that will go.", delay=0.05, replace_with="Moderated.")

    ts = await slack_bot.ask("C1", "hello")

    assert slack.thread_texts("C1", ts) == ["Moderated."]
    calls = stream_calls(slack)
    assert calls.index("chat.stopStream") < calls.index("chat.update")


async def test_a_replacement_that_extends_the_text_is_appended(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script("Hello", delay=0.05, replace_with="Hello there, friend.")

    ts = await slack_bot.ask("C1", "hello")

    assert slack.thread_texts("C1", ts) == ["Hello there, friend."]
    assert not slack.calls_to("chat.update")


async def test_a_long_answer_continues_in_new_streamed_messages(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    paragraphs = [f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 30 for n in range(12)]
    answer = "\n\n".join(p.strip() for p in paragraphs)
    dify.script(answer)

    ts = await slack_bot.ask("C1", "tell me everything")

    texts = slack.thread_texts("C1", ts)
    assert len(texts) == 3 and all(len(t) <= MAX_MESSAGE_CHARS for t in texts)
    assert " ".join(" ".join(texts).split()) == " ".join(answer.split())
    assert all(len(str(c.args.get("markdown_text") or "")) <= 12_000 for c in slack.calls)
    assert not [c for c in slack.calls if not c.ok]


async def test_native_feedback_and_old_buttons_both_rate_the_answer(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    ts = await slack_bot.ask("C1", "rate me")
    (answer,) = slack.thread("C1", ts)
    (message,) = dify.messages.values()

    payload = slack.block_action(answer, "dify_feedback:dislike", user="U2")
    assert payload["actions"][0]["type"] == "feedback_buttons"
    status, _ = await slack.post_action(slack_bot.events_url, payload)
    assert status == 200
    await eventually(lambda: message.rating == "dislike")

    # an answer posted by an earlier release: its own 👍 button
    answer.below = [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "dify_feedback:like",
                    "text": {"type": "plain_text", "text": "👍"},
                    "value": "like",
                }
            ],
        }
    ]
    payload = slack.block_action(answer, "dify_feedback:like", user="U2")
    assert payload["actions"][0]["type"] == "button"
    await slack.post_action(slack_bot.events_url, payload)
    await eventually(lambda: message.rating == "like")


async def test_a_mention_in_someone_elses_thread_brings_its_earlier_messages(
    slack_bot: SlackBot,
):
    slack, dify = slack_bot.slack, slack_bot.dify
    root = slack.add_message("C1", "Shall we move the launch to May?", user="U1")
    slack.add_message("C1", "Only if QA is done by then.", user="U2", thread_ts=root.ts)

    await slack_bot.ask("C1", "what do you think?", thread_ts=root.ts, user="U1")
    first = dify.chat_requests[-1]["query"]
    assert first.startswith("Earlier in this thread:\nAlice: Shall we move the launch to May?")
    assert "Bob: Only if QA is done by then." in first
    assert first.endswith("Alice: what do you think?")

    await slack_bot.reply("C1", root.ts, "and June?")
    assert "Earlier in this thread" not in dify.chat_requests[-1]["query"], "first turn only"


async def test_without_the_thread_when_slack_rate_limits_the_lookup(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    root = slack.add_message("C1", "Some earlier talk", user="U2")
    slack.fail_next("conversations.replies", 1, retry_after=30)

    await slack_bot.ask("C1", "hello?", thread_ts=root.ts)

    assert dify.chat_requests[-1]["query"] == "Alice: hello?"
    (refused,) = slack.calls_to("conversations.replies")
    assert refused.status == 429, "asked once, not waited out"


async def test_no_more_streams_open_than_their_stops_can_end_at_once(slack_bot: SlackBot):
    """Tier 2 ends few streams at once: an answer beyond that is posted, not streamed, so no
    stream waits for its stop long after its last word."""
    slack, dify = slack_bot.slack, slack_bot.dify
    for n in range(3):
        dify.script([f"long{n}-{i} " for i in range(120)], delay=0.1)  # about 12 s each
    dify.script(ANSWER, delay=0.05)
    events = [
        slack.user_message(f"C{n}", f"q{n}", mention=True, event_type="app_mention")
        for n in range(3)
    ]
    for event in events:
        await slack_bot.send(event)
    await slack.wait_until(lambda: len([m for m in slack.messages.values() if m.streaming]) == 3)
    await asyncio.sleep(4)  # the start budget (18 a minute) has a token again by now
    late = await slack_bot.ask("C9", "and one more")

    assert len([c for c in slack.calls_to("chat.startStream") if c.ok]) == 3
    assert slack.thread_texts("C9", late) == [ANSWER]
    for event in events:
        await slack_bot.answered(event["channel"], event["ts"])
