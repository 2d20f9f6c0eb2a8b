"""Hostile or malformed input from the internet or a broken Slack.

Everything here arrives through real sockets: raw HTTP to the bot's events
port, raw websocket frames from the fake Socket Mode server. Each bad input
is answered at once with a 4xx (or an ack), logged in exactly one line with
no traceback, reaches neither the bridge nor Dify, and the bot goes on
answering the next good event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.fakes.dify import FakeDify
from tests.fakes.slack import SIGNING_SECRET, FakeSlack
from tests.slack.conftest import SlackBot, eventually, running_slack_bot

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MiB = 1024 * 1024


def signed(
    body: bytes | str,
    *,
    content_type: str = JSON,
    secret: str = SIGNING_SECRET,
    timestamp: str | None = None,
) -> dict[str, str]:
    """Headers as Slack signs: ``v0=`` HMAC-SHA256 over ``v0:{ts}:{body}`` (any ts text)."""
    raw = body.encode() if isinstance(body, str) else body
    stamp = str(int(time.time())) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + raw, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


async def post(url: str, body: bytes | str, headers: dict[str, str]) -> int:
    raw = body.encode() if isinstance(body, str) else body
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=raw, headers=headers) as response,
    ):
        await response.read()
        return response.status


async def raw_http(port: int, request: bytes) -> int:
    """Send ``request`` byte for byte on a fresh connection; the status of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        # the server may answer (and close) before it has read everything
        with contextlib.suppress(ConnectionError):
            writer.write(request)
            await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert status_line.startswith(b"HTTP/1."), f"no HTTP answer: {status_line!r}"
    return int(status_line.split()[1])


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the bot logged at INFO and above (the fake servers' access logs left out)."""
    return [r for r in caplog.records if r.levelno >= logging.INFO and r.name != "aiohttp.access"]


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with_trace = [r for r in caplog.records if r.exc_info or r.stack_info]
    assert not with_trace, f"logged with a traceback: {[r.getMessage() for r in with_trace]}"
    assert "Traceback" not in caplog.text


def assert_one_line(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    assert_no_traceback(caplog)
    records = logged(caplog)
    assert len(records) == 1, f"want one log line, got {[r.getMessage() for r in records]}"
    (record,) = records
    assert record.levelno in (logging.INFO, logging.WARNING)
    assert record.name.startswith("dify_bridge"), record.name
    assert "\n" not in record.getMessage()
    return record


@pytest.fixture
def quiet(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


# ------------------------------------------------------------------ HTTP events

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


# ------------------------------------------------------------------- ops routes

BAD_OPS_REQUESTS = [
    pytest.param(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", id="post"),
    pytest.param(b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", id="delete"),
    pytest.param(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", id="head"),
    pytest.param(b"GET /metrics?%zz=%%&a[]=1&&=&%00 HTTP/1.1\r\nHost: x\r\n\r\n", id="query"),
    pytest.param(b"GET /%ff%fe/../healthz HTTP/1.1\r\nHost: x\r\n\r\n", id="odd-path"),
    pytest.param(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        id="huge-header",
    ),
    pytest.param(b"GET /healthz?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="huge-url"),
    pytest.param(
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n" + b"x" * 2 * MiB,
        id="huge-body",
    ),
    pytest.param(
        b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n" + b"x" * 2 * MiB,
        id="huge-post",
    ),
    pytest.param(b"HELLO\r\n\r\n", id="garbage"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n", id="broken-header"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", id="neg-len"),
    pytest.param(b"GET /slack/events HTTP/1.1\r\nHost: x\r\n\r\n", id="get-events"),
]


def assert_no_server_error(status: int, caplog: pytest.LogCaptureFixture) -> None:
    assert 200 <= status < 500, f"answered {status}"
    assert_no_traceback(caplog)


@pytest.mark.parametrize("request_bytes", BAD_OPS_REQUESTS)
async def test_ops_routes_on_the_events_port_never_answer_5xx(
    slack_bot: SlackBot, quiet: pytest.LogCaptureFixture, request_bytes: bytes
):
    quiet.clear()
    status = await raw_http(slack_bot.adapter.port, request_bytes)
    assert_no_server_error(status, quiet)
    await slack_bot.ask("C1", "still there?")


@pytest.mark.parametrize("request_bytes", BAD_OPS_REQUESTS)
async def test_the_metrics_port_never_answers_5xx(
    fake_dify: FakeDify, tmp_path: Path, quiet: pytest.LogCaptureFixture, request_bytes: bytes
):
    from dify_bridge.ops.http import OpsServer
    from tests.support import running_bridge

    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        server = OpsServer(rt.bridge.metrics, "127.0.0.1", 0)
        await server.start()
        try:
            quiet.clear()
            status = await raw_http(server.port, request_bytes)
            assert_no_server_error(status, quiet)
            assert await raw_http(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == 200
        finally:
            await server.stop()


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
