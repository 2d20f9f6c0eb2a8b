"""``serve``: adapters started, and every one of them stopped on the way out."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from dify_bridge.config import parse_settings
from dify_bridge.ops.runtime import open_runtime, serve
from tests.fakes.dify import FakeDify


class PortAdapter:
    """An :class:`~dify_bridge.core.ports.Adapter` as the runtime sees one."""

    def __init__(self, name: str, *, stop_fails: bool = False) -> None:
        self.name = name
        self.healthy = False
        self.stopped = False
        self._stop_fails = stop_fails

    async def start(self) -> None:
        self.healthy = True

    async def stop(self) -> None:
        self.stopped = True
        self.healthy = False
        if self._stop_fails:
            raise OSError("connection reset while closing")


async def test_an_adapter_that_fails_to_stop_does_not_keep_the_others_running(
    fake_dify: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    settings = parse_settings(
        {
            "DIFY_API_URL": fake_dify.url,
            "DIFY_API_KEY": "app-test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        }
    )
    failing, other = PortAdapter("slack", stop_fails=True), PortAdapter("discord")
    until = asyncio.Event()
    async with open_runtime(settings) as runtime:
        serving = asyncio.create_task(serve(runtime, [failing, other], until=until))
        while not (failing.healthy and other.healthy):
            await asyncio.sleep(0.01)
        with caplog.at_level(logging.WARNING, logger="dify_bridge.ops.runtime"):
            until.set()
            await asyncio.wait_for(serving, timeout=10)
    assert failing.stopped and other.stopped
    (line,) = [r.getMessage() for r in caplog.records if "did not stop cleanly" in r.getMessage()]
    assert line == "slack adapter did not stop cleanly: connection reset while closing"
