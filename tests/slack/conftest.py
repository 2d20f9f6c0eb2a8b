"""A Slack workspace (fake Slack) wired to the real bridge and the fake Dify."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dify_bridge.adapters.slack.app import SlackAdapter
from dify_bridge.adapters.slack.sink import THINKING_REACTION
from dify_bridge.config import parse_settings
from dify_bridge.ops.runtime import Runtime, open_runtime
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@dataclass
class SlackBot:
    """The bot as a user meets it: send events, read threads."""

    slack: FakeSlack
    dify: FakeDify
    adapter: SlackAdapter
    runtime: Runtime

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.port}/slack/events"

    async def send(self, event: dict[str, Any], **options: Any) -> dict[str, Any]:
        """Deliver ``event`` as Slack would (signed POST); returns the full body sent."""
        body = self.slack.event_callback(event)
        status, text = await self.slack.post_event(self.events_url, body, **options)
        assert status == 200, f"Slack would retry: the app answered {status} {text!r}"
        return body

    async def resend(self, body: dict[str, Any], **options: Any) -> int:
        status, _ = await self.slack.post_event(self.events_url, body, **options)
        return status

    async def answered(self, channel: str, user_ts: str, *, turns: int = 1) -> None:
        """Wait until the bot has finished ``turns`` answers to the message ``user_ts``.

        An answer is finished when its hourglass reaction is taken off again.
        """

        def done() -> bool:
            removed = [
                c
                for c in self.slack.calls_to("reactions.remove")
                if c.args.get("timestamp") == user_ts
                and c.args.get("channel") == channel
                and c.args.get("name") == THINKING_REACTION
            ]
            return len(removed) >= turns

        await self.slack.wait_until(done, within=20)

    async def ask(
        self, channel: str, text: str, *, thread_ts: str | None = None, user: str = "U1"
    ) -> str:
        """Mention the bot (as a user does in a channel) and wait for the answer; returns ts."""
        event = self.slack.user_message(
            channel, text, user=user, thread_ts=thread_ts, mention=True, event_type="app_mention"
        )
        await self.send(event)
        await self.answered(channel, event["ts"])
        return str(event["ts"])

    async def reply(self, channel: str, thread_ts: str, text: str, *, user: str = "U1") -> str:
        """Write in a thread without a mention and wait for the answer; returns ts."""
        event = self.slack.user_message(channel, text, user=user, thread_ts=thread_ts)
        await self.send(event)
        await self.answered(channel, event["ts"])
        return str(event["ts"])


def slack_env(slack: FakeSlack, dify: FakeDify, db_path: Path, **env: str) -> dict[str, str]:
    return {
        "DIFY_API_URL": dify.url,
        "DIFY_API_KEY": "app-test",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "HOST": "127.0.0.1",
        "PORT": "0",
    } | env


@contextlib.asynccontextmanager
async def running_slack_bot(
    slack: FakeSlack, dify: FakeDify, db_path: Path, **env: str
) -> AsyncIterator[SlackBot]:
    """The real runtime and Slack adapter, as ``dify-bridge run`` starts them."""
    settings = parse_settings(slack_env(slack, dify, db_path, **env))
    assert settings.slack is not None
    async with open_runtime(settings) as runtime:
        adapter = SlackAdapter(settings.slack, runtime.bridge)
        await adapter.start()
        try:
            yield SlackBot(slack, dify, adapter, runtime)
        finally:
            await runtime.bridge.shutdown(5)
            await adapter.stop()


@pytest.fixture
async def slack_bot(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> AsyncIterator[SlackBot]:
    async with running_slack_bot(fake_slack, fake_dify, tmp_path / "bridge.db") as bot:
        yield bot


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """For state outside the fake Slack (e.g. the fake Dify): poll until ``check()`` holds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
