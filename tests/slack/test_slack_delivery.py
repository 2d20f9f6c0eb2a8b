"""How the bot takes Slack's deliveries: acks, signatures, redeliveries, what it ignores."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, running_slack_bot


async def test_a_redelivered_event_is_answered_once(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script("only once", delay=0.2)
    event = slack.user_message("C1", "hi", mention=True, event_type="app_mention")

    body = await slack_bot.send(event)
    for retry in (1, 2):
        assert await slack_bot.resend(body, retry_num=retry) == 200
    await slack_bot.answered("C1", event["ts"])

    assert len(dify.chat_requests) == 1
    assert slack.thread_texts("C1", event["ts"]) == ["only once"]


async def test_mention_and_message_events_of_one_message_are_answered_once(
    slack_bot: SlackBot,
):
    slack, dify = slack_bot.slack, slack_bot.dify
    root = await slack_bot.ask("C1", "start")
    # in a thread the bot follows, a mention arrives twice: as message and as app_mention
    message = slack.user_message("C1", "again", thread_ts=root, mention=True)
    mention = dict(message, type="app_mention")
    del mention["channel_type"]
    await asyncio.gather(slack_bot.send(message), slack_bot.send(mention))
    await slack_bot.answered("C1", message["ts"])

    assert [r["query"] for r in dify.chat_requests] == ["Alice: start", "Alice: again"]


async def test_every_event_is_acknowledged_before_the_answer_streams(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script("a slow answer that takes a while", delay=0.3)
    event = slack.user_message("C1", "take your time", mention=True, event_type="app_mention")

    started = time.monotonic()
    await slack_bot.send(event)
    assert time.monotonic() - started < 1.0, "Slack wants its 200 within 3 seconds"
    await slack_bot.answered("C1", event["ts"])


async def test_bots_the_bot_itself_and_edits_are_ignored(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    root = await slack_bot.ask("C1", "start")
    ignored = [
        slack.user_message("C1", "beep", thread_ts=root, bot_id="B999", user="U9"),
        slack.user_message("C1", "my own words", thread_ts=root, user=slack.bot_user_id),
        slack.user_message("C1", "edited", thread_ts=root, subtype="message_changed"),
        slack.user_message("C1", "joined", thread_ts=root, subtype="channel_join"),
    ]
    for event in ignored:
        await slack_bot.send(event)
    await slack_bot.reply("C1", root, "a real question")

    assert [r["query"] for r in dify.chat_requests] == ["Alice: start", "Alice: a real question"]


async def test_a_bad_signature_is_refused_and_nothing_reaches_dify(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    event = slack.user_message("C1", "let me in", mention=True, event_type="app_mention")
    body = slack.event_callback(event)

    forged = await slack.post_event(slack_bot.events_url, body, secret="not-the-secret")
    stale = await slack.post_event(slack_bot.events_url, body, timestamp=int(time.time()) - 600)

    assert forged[0] == 401 and stale[0] == 401
    await asyncio.sleep(0.2)
    assert dify.requests == []
    assert slack.calls_to("chat.postMessage") == []


async def test_event_types_the_bot_does_not_use_still_get_200(slack_bot: SlackBot):
    slack = slack_bot.slack
    for event in (
        {"type": "team_join", "user": {"id": "U7"}},
        {"type": "channel_created", "channel": {"id": "C9", "name": "new"}},
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "tada",
            "item": {"type": "message", "channel": "C1", "ts": "1.2"},
        },
        {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"},
    ):
        await slack_bot.send(event)
    challenge = {"type": "url_verification", "challenge": "abc123", "token": "t"}
    status, text = await slack.post_event(slack_bot.events_url, challenge)
    assert status == 200 and "abc123" in text
    # sent when a workspace passes Slack's event limit: no event, still a 200
    busy = {"type": "app_rate_limited", "token": "t", "team_id": "T1", "minute_rate_limited": 1}
    status, _ = await slack.post_event(slack_bot.events_url, busy)
    assert status == 200


async def test_allow_lists_are_enforced_before_dify(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    async with running_slack_bot(
        fake_slack,
        fake_dify,
        tmp_path / "bridge.db",
        SLACK_ALLOWED_CHANNELS="C1,D1",
        SLACK_ALLOWED_USERS="U1",
    ) as bot:
        for channel, user in (("C2", "U1"), ("C1", "U2")):
            event = fake_slack.user_message(
                channel, "hi", user=user, mention=True, event_type="app_mention"
            )
            await bot.send(event)
        dm = fake_slack.user_message("D2", "hi", channel_type="im")
        await bot.send(dm)
        await bot.ask("C1", "allowed")

    assert [r["query"] for r in fake_dify.chat_requests] == ["Alice: allowed"]


async def test_health_answers_once_ready(slack_bot: SlackBot):
    url = f"http://127.0.0.1:{slack_bot.adapter.port}/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200


async def test_a_revoked_token_still_acks_events_and_never_logs_the_token(
    slack_bot: SlackBot, caplog: pytest.LogCaptureFixture
):
    slack = slack_bot.slack
    caplog.set_level(logging.DEBUG)
    root = await slack_bot.ask("C1", "hello")
    slack.revoke_token()

    event = slack.user_message("C1", "anyone there?", thread_ts=root)
    await slack_bot.send(event)
    await slack.wait_until(
        lambda: any(c.error == "token_revoked" for c in slack.calls_to("chat.postMessage"))
    )

    assert len(slack.thread_texts("C1", root)) == 1
    assert slack.bot_token not in caplog.text
    assert "token_revoked" in caplog.text, "the failure should be logged"


async def test_a_shutdown_marks_the_answer_in_progress_as_interrupted(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script("this answer takes far too long " * 5, delay=0.3)
    event = slack.user_message("C1", "slow one", mention=True, event_type="app_mention")
    await slack_bot.send(event)
    await slack.wait_until(lambda: bool(slack.thread_texts("C1", event["ts"])))

    await slack_bot.runtime.bridge.shutdown(0.2)
    await slack_bot.answered("C1", event["ts"])

    (text,) = slack.thread_texts("C1", event["ts"])
    assert text.startswith("this") and "Interrupted" in text, "the partial answer stays"
