"""Starting the Slack adapter: health before and after, refused credentials."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from dify_bridge.adapters.slack.app import SlackAdapter, SlackStartFailed
from dify_bridge.config import parse_settings
from dify_bridge.ops.runtime import open_runtime
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import running_slack_bot, slack_env


async def health(port: int) -> int:
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def test_health_is_503_until_slack_accepted_the_token(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    settings = parse_settings(slack_env(fake_slack, fake_dify, tmp_path / "bridge.db"))
    assert settings.slack is not None
    fake_slack.fail_next("auth.test", retry_after=1)  # Slack makes the start wait a second
    async with open_runtime(settings) as runtime:
        adapter = SlackAdapter(settings.slack, runtime.bridge)
        starting = asyncio.create_task(adapter.start())
        await fake_slack.wait_until(lambda: bool(fake_slack.calls_to("auth.test")))
        try:
            assert await health(adapter.port) == 503
            await starting
            assert adapter.ready and await health(adapter.port) == 200
        finally:
            await adapter.stop()


async def test_a_refused_bot_token_fails_the_start_without_showing_it(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    with pytest.raises(SlackStartFailed, match="invalid_auth") as failure:
        async with running_slack_bot(
            fake_slack, fake_dify, tmp_path / "bridge.db", SLACK_BOT_TOKEN="xoxb-wrong-token"
        ):
            pass
    assert "xoxb-wrong-token" not in str(failure.value)
