"""Socket Mode: events arrive over a websocket and are acked by envelope."""

from __future__ import annotations

from pathlib import Path

import pytest

from dify_bridge.adapters.slack.app import SlackStartFailed
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import eventually, running_slack_bot


async def test_socket_mode_acks_envelopes_and_answers_in_the_thread(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    slack = fake_slack
    fake_dify.script("answered over the socket", delay=0.05)
    async with running_slack_bot(
        slack,
        fake_dify,
        tmp_path / "bridge.db",
        SLACK_APP_TOKEN=slack.app_token,
        SLACK_SIGNING_SECRET="",
    ) as bot:
        assert bot.adapter.port == 0, "Socket Mode needs no listening port"
        event = slack.user_message("C1", "hi", mention=True, event_type="app_mention")
        body = slack.event_callback(event)

        ack = await slack.push_event(body)
        assert set(ack) == {"envelope_id"} or ack.get("payload") in (None, {})
        # Slack redelivers an envelope it thinks was lost: acked, not answered twice
        again = await slack.push_event(body, retry_attempt=1)
        assert "envelope_id" in again
        ignored = await slack.push_event(slack.event_callback({"type": "team_join"}))
        assert "envelope_id" in ignored
        await bot.answered("C1", event["ts"])

        # a button click arrives as an "interactive" envelope
        (answer,) = slack.thread("C1", event["ts"])
        click = slack.block_action(answer, "dify_feedback:like")
        clicked = await slack.push_event(click, envelope_type="interactive")
        assert "envelope_id" in clicked
        (message,) = fake_dify.messages.values()
        await eventually(lambda: message.rating == "like")

    assert slack.thread_texts("C1", event["ts"]) == ["answered over the socket"]
    assert len(fake_dify.chat_requests) == 1
    opened = slack.calls_to("apps.connections.open")
    assert opened and opened[0].token == slack.app_token


async def test_a_bad_app_token_fails_the_start(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    with pytest.raises(SlackStartFailed, match="invalid_auth") as failure:
        async with running_slack_bot(
            fake_slack, fake_dify, tmp_path / "bridge.db", SLACK_APP_TOKEN="xapp-wrong"
        ):
            pass
    assert "xapp-wrong" not in str(failure.value)


async def test_socket_mode_answers_the_slash_command_in_its_ack(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    slack = fake_slack
    async with running_slack_bot(
        slack,
        fake_dify,
        tmp_path / "bridge.db",
        SLACK_APP_TOKEN=slack.app_token,
        SLACK_SIGNING_SECRET="",
    ):
        ack = await slack.push_event(
            slack.slash_command("C1", "help"), envelope_type="slash_commands"
        )

    assert ack["payload"]["response_type"] == "ephemeral"
    assert "/dify status" in ack["payload"]["text"]
