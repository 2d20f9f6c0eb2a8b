"""Broken Socket Mode envelopes: acknowledged, dropped with one log line, the bot goes on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, eventually, running_slack_bot
from tests.slack.hostile import (
    assert_one_line,
    logged,
)

# ------------------------------------------------------------------ Socket Mode


@pytest.fixture
async def socket_bot(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> AsyncIterator[SlackBot]:
    async with running_slack_bot(
        fake_slack,
        fake_dify,
        tmp_path / "bridge.db",
        SLACK_APP_TOKEN=fake_slack.app_token,
        SLACK_SIGNING_SECRET="",
    ) as bot:
        yield bot


def envelope(envelope_id: str, **fields: Any) -> str:
    return json.dumps({"envelope_id": envelope_id} | fields)


BROKEN_ENVELOPES = [
    pytest.param("not json at all", None, id="not-json"),
    pytest.param('{"envelope_id": "e1", "type": "events_api", "payl', None, id="cut-json"),
    pytest.param("[1, 2, 3]", None, id="json-array"),
    pytest.param('{"type": "events_api", "payload": {}}', None, id="no-envelope-id"),
    pytest.param(envelope("e2", type="events_api"), "e2", id="no-payload"),
    pytest.param(envelope("e3", payload={"type": "event_callback"}), "e3", id="no-type"),
    pytest.param(envelope("e4", type="events_api", payload=[1, 2]), "e4", id="payload-array"),
    pytest.param(envelope("e5", type="events_api", payload=5), "e5", id="payload-number"),
    pytest.param(envelope("e6", type="events_api", payload="text"), "e6", id="payload-string"),
    pytest.param(envelope("e7", type=["events_api"], payload={}), "e7", id="type-list"),
    pytest.param(
        envelope("e8", type="events_api", payload={"type": "event_callback", "event": "type"}),
        "e8",
        id="event-is-a-string",
    ),
    pytest.param(
        envelope("e9", type="events_api", payload={"authorizations": "x"}),
        "e9",
        id="authorizations-string",
    ),
    pytest.param(envelope("e10", type="mystery", payload={}), "e10", id="unknown-type"),
    pytest.param(
        envelope("e11", type="events_api", payload={"type": "no_such_type"}),
        "e11",
        id="unknown-payload-type",
    ),
    pytest.param(
        envelope("e12", type="interactive", payload={"type": "block_actions", "actions": [5]}),
        "e12",
        id="action-is-a-number",
    ),
]


@pytest.mark.parametrize(("frame", "envelope_id"), BROKEN_ENVELOPES)
async def test_broken_socket_mode_envelopes_are_acked_and_dropped_with_one_line(
    socket_bot: SlackBot, quiet: pytest.LogCaptureFixture, frame: str, envelope_id: str | None
):
    slack = socket_bot.slack
    quiet.clear()

    ack = await slack.push_raw(frame, envelope_id=envelope_id)
    if envelope_id is not None:
        assert ack == {"envelope_id": envelope_id}
    # envelopes are read in order: once this one is acked, the broken one has been read
    await slack.push_event(slack.event_callback({"type": "team_join"}))
    await eventually(lambda: bool(logged(quiet)))

    assert_one_line(quiet)
    assert socket_bot.dify.requests == []
    event = slack.user_message("C1", "still there?", mention=True, event_type="app_mention")
    assert "envelope_id" in await slack.push_event(slack.event_callback(event))
    await socket_bot.answered("C1", event["ts"])
