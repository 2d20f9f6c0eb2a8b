"""Shared by the hostile-input tests: signing, raw requests, and checks on the log."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time

import aiohttp
import pytest

from tests.fakes.slack import SIGNING_SECRET

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
