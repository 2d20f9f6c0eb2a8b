"""Hostile requests to the endpoints unsigned by nature (/healthz, /metrics): never a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.dify import FakeDify
from tests.slack.conftest import SlackBot
from tests.slack.hostile import (
    MiB,
    assert_no_traceback,
    raw_http,
)

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
