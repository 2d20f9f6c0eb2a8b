"""Structured logs and Prometheus metrics as an operator scrapes them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from dify_bridge.ops.http import OpsServer
from dify_bridge.ops.logs import RedactingFormatter
from tests.fakes.dify import FakeDify

from .support import RecordingSink, incoming, running_bridge


async def test_metrics_count_turns_errors_and_first_chunk_time(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t1", "hi"), RecordingSink())
        fake_dify.fail_next(429, "rate_limit_error", "slow down")
        await rt.bridge.handle_message(incoming("t2", "hi"), RecordingSink())
        server = OpsServer(rt.bridge.metrics, "127.0.0.1", 0)
        await server.start()
        try:
            async with httpx.AsyncClient() as client:
                page = (await client.get(f"http://127.0.0.1:{server.port}/metrics")).text
                health = await client.get(f"http://127.0.0.1:{server.port}/healthz")
        finally:
            await server.stop()
    assert health.status_code == 200
    assert 'dify_bridge_turns_total{outcome="answered",platform="test"} 1.0' in page
    assert 'dify_bridge_turns_total{outcome="failed",platform="test"} 1.0' in page
    assert 'dify_bridge_errors_total{kind="RateLimited"} 1.0' in page
    assert 'dify_bridge_rate_limited_total{service="dify"} 1.0' in page
    assert "dify_bridge_time_to_first_chunk_seconds_count 1.0" in page
    assert "dify_bridge_active_streams 0.0" in page


async def test_json_logs_carry_thread_conversation_and_timings(
    fake_dify: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dify_bridge")
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t1", "hi"), RecordingSink())
    (record,) = [r for r in caplog.records if r.getMessage().startswith("turn answered")]
    entry = json.loads(RedactingFormatter(["app-test"], as_json=True).format(record))
    assert entry["thread_key"] == "test:t1"
    assert entry["conversation_id"] in fake_dify.conversations
    assert isinstance(entry["first_chunk_ms"], int) and isinstance(entry["total_ms"], int)
