"""Hostile or malformed input from the internet or a broken Slack.

Everything here arrives through real sockets: raw HTTP to the bot's events
port, raw websocket frames from the fake Socket Mode server. Each bad input
is answered at once with a 4xx (or an ack), logged in exactly one line with
no traceback, reaches neither the bridge nor Dify, and the bot goes on
answering the next good event.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, eventually
from tests.slack.hostile import (
    FORM,
    JSON,
    MiB,
    assert_one_line,
    logged,
    post,
    signed,
)

NOW = int(time.time())
BAD_JSON = "{not json"
GOOD_SHAPE = json.dumps({"type": "event_callback", "event": {"type": "team_join"}})

REJECTED = [
    pytest.param(BAD_JSON, {"Content-Type": JSON}, 401, id="bad-json-unsigned"),
    pytest.param(GOOD_SHAPE, {"Content-Type": JSON}, 401, id="json-unsigned"),
    pytest.param(BAD_JSON, signed(BAD_JSON), 400, id="bad-json-signed"),
    pytest.param(GOOD_SHAPE, signed(GOOD_SHAPE, timestamp="soon"), 401, id="timestamp-word"),
    pytest.param(GOOD_SHAPE, signed(GOOD_SHAPE, timestamp="1e9"), 401, id="timestamp-float"),
    pytest.param(GOOD_SHAPE, signed(GOOD_SHAPE, timestamp="9" * 5000), 401, id="timestamp-5000"),
    pytest.param(GOOD_SHAPE, signed(GOOD_SHAPE, timestamp="²"), 401, id="timestamp-superscript"),
    pytest.param(GOOD_SHAPE, signed(GOOD_SHAPE, timestamp=str(NOW - 600)), 401, id="stale"),
    pytest.param(GOOD_SHAPE, signed(GOOD_SHAPE, timestamp=str(NOW + 600)), 401, id="future"),
    pytest.param(GOOD_SHAPE, signed(GOOD_SHAPE, secret="not-the-secret"), 401, id="wrong-sig"),
    pytest.param(
        GOOD_SHAPE,
        signed(GOOD_SHAPE) | {"X-Slack-Signature": "v0=" + "é" * 64},
        401,
        id="non-ascii-signature",
    ),
    pytest.param(b"\xff\xfe{}", signed(b"\xff\xfe{}"), 401, id="not-utf8-signed"),
    pytest.param("x" * (2 * MiB), signed("x" * (2 * MiB)), 413, id="2MiB-signed"),
    pytest.param("x" * (2 * MiB), {"Content-Type": JSON}, 413, id="2MiB-unsigned"),
    pytest.param(
        "payload=%7Bnot+json", signed("payload=%7Bnot+json", content_type=FORM), 400, id="form"
    ),
    pytest.param(
        "payload=" + quote("[1]"),
        signed("payload=" + quote("[1]"), content_type=FORM),
        400,
        id="form-payload-array",
    ),
    pytest.param("a&&b", signed("a&&b", content_type=FORM), 400, id="broken-form"),
    pytest.param("", signed(""), 400, id="empty-signed"),
    pytest.param("", {}, 401, id="empty-unsigned"),
    pytest.param("[1, 2]", signed("[1, 2]"), 400, id="json-array"),
    pytest.param('"hello"', signed('"hello"'), 400, id="json-string"),
]


@pytest.mark.parametrize(("body", "headers", "status"), REJECTED)
async def test_bad_requests_get_a_4xx_one_log_line_and_never_reach_the_bridge(
    slack_bot: SlackBot,
    quiet: pytest.LogCaptureFixture,
    body: str | bytes,
    headers: dict[str, str],
    status: int,
):
    slack, dify = slack_bot.slack, slack_bot.dify
    calls_before = len(slack.calls)
    quiet.clear()

    assert await post(slack_bot.events_url, body, headers) == status

    assert_one_line(quiet)
    assert len(slack.calls) == calls_before, "nothing may reach the bot's listeners"
    assert dify.requests == []
    await slack_bot.ask("C1", "still there?")


async def test_an_oversized_chunked_body_is_refused_with_413(
    slack_bot: SlackBot, quiet: pytest.LogCaptureFixture
):
    """No Content-Length: the cap must hold while reading."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(32):
            yield b"x" * (64 * 1024)

    quiet.clear()
    async with (
        aiohttp.ClientSession() as session,
        session.post(slack_bot.events_url, data=chunks(), headers={"Content-Type": JSON}) as r,
    ):
        assert r.status == 413
    assert_one_line(quiet)
    await slack_bot.ask("C1", "still there?")


async def test_an_unsigned_ssl_check_is_answered_without_the_bridge(
    slack_bot: SlackBot, quiet: pytest.LogCaptureFixture
):
    """Slack's certificate check of a slash command URL carries no signature."""
    body = "ssl_check=1&token=legacy-verification-token"
    assert await post(slack_bot.events_url, body, {"Content-Type": FORM}) == 200
    assert slack_bot.dify.requests == []
    # only exactly ssl_check=1 passes unsigned
    smuggled = "ssl_check=1&command=%2Fdify&text=new"
    assert await post(slack_bot.events_url, smuggled, {"Content-Type": FORM}) == 401
    assert await post(slack_bot.events_url, "ssl_check=0", {"Content-Type": FORM}) == 401


SIGNED_BUT_ODD = [
    pytest.param({"type": "event_callback", "event": "type"}, id="event-is-a-string"),
    pytest.param({"type": "event_callback", "authorizations": "x"}, id="authorizations-string"),
    pytest.param({"type": "no_such_type"}, id="unknown-type"),
    pytest.param({"type": "block_actions", "actions": ["dify_stop"]}, id="action-is-a-string"),
]


@pytest.mark.parametrize("body", SIGNED_BUT_ODD)
async def test_signed_bodies_bolt_cannot_handle_are_acked_with_one_line(
    slack_bot: SlackBot, quiet: pytest.LogCaptureFixture, body: dict[str, Any]
):
    """Signed, so Slack would retry a 5xx: they get a 200, one line, no traceback."""
    raw = json.dumps(body)
    quiet.clear()

    assert await post(slack_bot.events_url, raw, signed(raw)) == 200

    await eventually(lambda: bool(logged(quiet)))
    assert_one_line(quiet)
    assert slack_bot.dify.requests == []
    await slack_bot.ask("C1", "still there?")


def odd_event(slack: FakeSlack, **event: Any) -> dict[str, Any]:
    return slack.event_callback(event)


async def test_events_with_odd_fields_are_ignored_with_one_line(
    slack_bot: SlackBot, quiet: pytest.LogCaptureFixture
):
    slack = slack_bot.slack
    bodies = [
        odd_event(
            slack,
            type="app_mention",
            user="U1",
            channel="C1",
            ts="1700000000.000001",
            text="<@UBOT> hi",
            files=[{"name": "a.txt", "size": "big"}],
        ),
        odd_event(slack, type="reaction_added", user="U1", reaction="+1", item="C1/1.1"),
        odd_event(
            slack,
            type="message",
            user="U1",
            channel="D1",
            ts="1.2",
            channel_type="im",
            text="hi",
            files=[{"size": [1]}],
        ),
    ]
    for body in bodies:
        quiet.clear()
        raw = json.dumps(body)
        assert await post(slack_bot.events_url, raw, signed(raw)) == 200
        await eventually(lambda: bool(logged(quiet)))
        assert_one_line(quiet)
    assert slack_bot.dify.requests == []
    await slack_bot.ask("C1", "still there?")


async def test_odd_button_payloads_are_ignored_with_one_line(
    slack_bot: SlackBot, quiet: pytest.LogCaptureFixture
):
    slack, dify = slack_bot.slack, slack_bot.dify
    ts = await slack_bot.ask("C1", "rate me")
    (answer,) = slack.thread("C1", ts)
    (message,) = dify.messages.values()
    like = slack.block_action(answer, "dify_feedback:like")
    bogus_value = json.loads(json.dumps(like))
    bogus_value["actions"][0]["value"] = "bogus"
    channel_string = json.loads(json.dumps(like)) | {"channel": "C1"}
    user_string = json.loads(json.dumps(like)) | {"user": "U1", "container": "x"}
    action_not_object = json.loads(json.dumps(like))
    action_not_object["actions"] = ["dify_feedback:like"]
    requests_before = len(dify.requests)

    for payload in (bogus_value, channel_string, user_string, action_not_object):
        quiet.clear()
        status, _ = await slack.post_action(slack_bot.events_url, payload)
        assert status == 200
        await eventually(lambda: bool(logged(quiet)))
        assert_one_line(quiet)

    assert len(dify.requests) == requests_before, "no feedback may reach Dify"
    assert message.rating is None
    await slack_bot.ask("C1", "still there?")
