"""The /dify slash command and 🛑 on an answer."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, running_slack_bot


async def command(bot: SlackBot, channel: str, text: str, *, user: str = "U1") -> str:
    """Type ``/dify text`` in ``channel``; returns the ephemeral reply (acked within 3 s)."""
    fields = bot.slack.slash_command(channel, text, user=user)
    started = time.monotonic()
    status, body = await bot.slack.post_command(bot.events_url, fields)
    assert status == 200, f"Slack shows 'dispatch_failed': {status} {body!r}"
    assert time.monotonic() - started < 3, "Slack gives up on a command after 3 s"
    reply = json.loads(body)
    assert reply.get("response_type") == "ephemeral", "only the person who typed it sees it"
    return str(reply["text"])


async def dm(bot: SlackBot, text: str, channel: str = "D1") -> None:
    event = bot.slack.user_message(channel, text, channel_type="im")
    await bot.send(event)
    await bot.answered(channel, event["ts"])


async def test_help_and_unknown_subcommands_show_the_usage(slack_bot: SlackBot):
    for text in ("help", "", "frobnicate"):
        reply = await command(slack_bot, "C1", text)
        assert "/dify new" in reply and "/dify status" in reply, f"/dify {text!r}: {reply}"
    assert slack_bot.dify.chat_requests == [], "a command is not a question"


async def test_new_in_a_dm_starts_a_fresh_conversation(slack_bot: SlackBot):
    dify = slack_bot.dify
    await dm(slack_bot, "remember 7")
    await dm(slack_bot, "which number?")

    reply = await command(slack_bot, "D1", "new")
    await dm(slack_bot, "hello again")

    first, second, third = dify.chat_requests
    assert not first.get("conversation_id") and second["conversation_id"], "one DM, one thread"
    assert not third.get("conversation_id"), "after /dify new the DM starts a new conversation"
    assert third["user"] == second["user"]
    assert "next message" in reply


async def test_status_in_a_dm_shows_the_app_name_and_conversation(slack_bot: SlackBot):
    dify = slack_bot.dify
    dify.info["name"] = "Helpdesk Bot"
    before = await command(slack_bot, "D1", "status")
    await dm(slack_bot, "hi")
    (conversation_id,) = dify.conversations

    after = await command(slack_bot, "D1", "status")

    assert "Helpdesk Bot" in before and "No conversation here yet" in before
    assert "Helpdesk Bot" in after and conversation_id in after
    assert len(dify.requests_to("/info")) == 1, "the app's name is asked once, then remembered"


async def test_status_in_a_channel_names_the_most_recent_thread_honestly(slack_bot: SlackBot):
    dify = slack_bot.dify
    empty = await command(slack_bot, "C1", "status")
    await slack_bot.ask("C1", "first")
    await slack_bot.ask("C1", "second")
    latest = dify.chat_requests[-1]
    latest_id = next(c.id for c in dify.conversations.values() if c.user == latest["user"])

    reply = await command(slack_bot, "C1", "status")

    assert "mention me" in empty
    assert latest_id in reply and "Most recent thread" in reply
    assert "does not tell me which thread" in reply


async def test_new_in_a_channel_explains_that_the_next_mention_starts_fresh(slack_bot: SlackBot):
    dify = slack_bot.dify
    await slack_bot.ask("C1", "first")
    reply = await command(slack_bot, "C1", "new")
    await slack_bot.ask("C1", "second")

    assert "next mention" in reply
    first, second = dify.chat_requests
    assert not second.get("conversation_id") and second["user"] != first["user"]


async def test_commands_outside_allowed_channels_say_so(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    async with running_slack_bot(
        fake_slack, fake_dify, tmp_path / "bridge.db", SLACK_ALLOWED_CHANNELS="C9"
    ) as bot:
        reply = await command(bot, "C1", "status")
    assert "not set up" in reply and fake_dify.requests_to("/info") == []


async def test_a_stop_sign_on_the_answer_stops_it(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    full = "one two three four five six seven eight nine ten " * 3
    dify.script(full, delay=0.25)
    event = slack.user_message("C1", "count slowly", mention=True, event_type="app_mention")
    await slack_bot.send(event)
    await slack.wait_until(lambda: bool(slack.thread_texts("C1", event["ts"])))

    (answer,) = slack.thread("C1", event["ts"])
    await slack_bot.send(slack.reaction_event("C1", answer.ts, "octagonal_sign", user="U2"))
    await slack_bot.answered("C1", event["ts"])

    assert answer.visible.startswith("one") and answer.visible.endswith("_(Stopped.)_")
    assert len(answer.visible) < len(full), "the rest of the answer must not appear"
    assert len(dify.stops) == 1, "Dify is told to stop generating"


async def test_a_stop_sign_on_someone_elses_message_does_nothing(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script("short answer", delay=0.2)
    event = slack.user_message("C1", "question", mention=True, event_type="app_mention")
    await slack_bot.send(event)
    await slack_bot.send(slack.reaction_event("C1", event["ts"], "octagonal_sign"))
    await slack_bot.answered("C1", event["ts"])

    assert slack.thread_texts("C1", event["ts"]) == ["short answer"]
    assert dify.stops == []
