"""Two ``dify-bridge run`` processes behind one Slack workspace, sharing PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dify_bridge.adapters.slack.sink import THINKING_REACTION
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack

CHANNEL = "C0REPLICA"


@dataclass
class Replica:
    """One ``dify-bridge run`` process in Slack HTTP mode."""

    process: asyncio.subprocess.Process
    port: int = 0
    log: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                code = await self.process.wait()
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
            if self.reader is not None:
                await asyncio.gather(self.reader, return_exceptions=True)
        return code


async def start_replica(env: dict[str, str], cwd: Path) -> Replica:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dify_bridge",
        "run",
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    replica = Replica(process)
    up = asyncio.get_running_loop().create_future()

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            replica.log.append(line)
            found = re.search(r"HTTP on port (\d+)", line)
            if found and not up.done():
                up.set_result(int(found.group(1)))
        if not up.done():
            up.set_exception(AssertionError("the bridge exited:\n" + "\n".join(replica.log)))

    replica.reader = asyncio.create_task(read_log())
    try:
        async with asyncio.timeout(30):
            replica.port = await up
    except BaseException:
        await replica.stop()
        raise
    return replica


@dataclass
class Workspace:
    slack: FakeSlack
    dify: FakeDify
    replicas: tuple[Replica, Replica]

    async def deliver(self, replica: Replica, body: dict[str, Any], **options: Any) -> None:
        status, text = await self.slack.post_event(replica.events_url, body, **options)
        assert status == 200, f"the bridge answered {status} {text!r}; Slack would retry"

    def answers(self, user_ts: str) -> int:
        """How many answers to the message ``user_ts`` have finished (hourglass taken off)."""
        return sum(
            1
            for call in self.slack.calls_to("reactions.remove")
            if call.args.get("timestamp") == user_ts and call.args.get("name") == THINKING_REACTION
        )

    async def answered(self, user_ts: str) -> None:
        await self.slack.wait_until(lambda: self.answers(user_ts) >= 1, within=20)


@contextlib.asynccontextmanager
async def two_bridges(
    fake_dify: FakeDify,
    postgres_url: str,
    tmp_path: Path,
    *,
    slack: FakeSlack | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Workspace]:
    """Two processes on one workspace; ``env`` adds or overrides settings of both."""
    slack = slack or FakeSlack()
    await slack.start()
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "DIFY_", "DATABASE_URL"))
    }
    settings = (
        inherited
        | {
            "DIFY_API_URL": fake_dify.url,
            "DIFY_API_KEY": "app-test",
            "DATABASE_URL": postgres_url,
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "HOST": "127.0.0.1",
            "PORT": "0",
            "LOG_LEVEL": "INFO",
            "SHUTDOWN_GRACE_SECONDS": "5",
        }
        | (env or {})
    )
    replicas: list[Replica] = []
    try:
        for _ in range(2):
            replicas.append(await start_replica(settings, tmp_path))
        yield Workspace(slack, fake_dify, (replicas[0], replicas[1]))
    finally:
        for replica in replicas:
            await replica.stop()
        await slack.close()


@pytest.mark.timeout(180)
async def test_two_processes_answer_a_redelivered_event_once_and_share_threads(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path
) -> None:
    async with two_bridges(fake_dify, postgres_url, tmp_path) as ws:
        one, other = ws.replicas
        slack = ws.slack

        # Slack retries the mention; the retry lands on the other process at the same time
        mention = slack.user_message(
            CHANNEL, "first question", mention=True, event_type="app_mention"
        )
        body = slack.event_callback(mention)
        await asyncio.gather(ws.deliver(one, body), ws.deliver(other, body, retry_num=1))
        thread_ts = mention["ts"]
        await ws.answered(thread_ts)

        # follow-ups in the thread alternate between the processes: one conversation, in order
        follow_ups = []
        for n, replica in enumerate([other, one, other, one]):
            event = slack.user_message(CHANNEL, f"follow-up {n}", thread_ts=thread_ts)
            await ws.deliver(replica, slack.event_callback(event))
            await ws.answered(event["ts"])
            follow_ups.append(event["ts"])

        # a burst, spread over both processes, is answered one at a time, each once
        burst = []
        for n in range(4):
            event = slack.user_message(CHANNEL, f"burst {n}", thread_ts=thread_ts)
            await ws.deliver(ws.replicas[n % 2], slack.event_callback(event))
            burst.append(event["ts"])
        for ts in burst:
            await ws.answered(ts)

        codes = [await replica.stop() for replica in ws.replicas]

    queries = [r["query"] for r in fake_dify.chat_requests]
    assert queries[:5] == ["Alice: first question"] + [f"Alice: follow-up {n}" for n in range(4)]
    assert sorted(queries[5:]) == [f"Alice: burst {n}" for n in range(4)]
    assert ws.answers(thread_ts) == 1, "the redelivered mention was answered twice"
    assert all(ws.answers(ts) == 1 for ts in follow_ups + burst)
    (conversation,) = fake_dify.conversations.values()
    assert len(conversation.messages) == 9, "the thread stayed one Dify conversation"
    assert codes == [0, 0]


@pytest.mark.timeout(180)
async def test_when_one_process_is_killed_the_other_takes_over_its_thread(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path
) -> None:
    async with two_bridges(fake_dify, postgres_url, tmp_path) as ws:
        one, other = ws.replicas
        slack = ws.slack
        fake_dify.script([f"w{i} " for i in range(400)], delay=0.05)  # about 20 s
        mention = slack.user_message(CHANNEL, "long one", mention=True, event_type="app_mention")
        thread_ts = mention["ts"]
        await ws.deliver(one, slack.event_callback(mention))
        await slack.wait_until(lambda: bool(slack.thread(CHANNEL, thread_ts)), within=20)

        one.process.send_signal(signal.SIGKILL)
        await one.process.wait()
        event = slack.user_message(CHANNEL, "are you there?", thread_ts=thread_ts)
        await ws.deliver(other, slack.event_callback(event))
        async with asyncio.timeout(15):
            await ws.answered(event["ts"])
    assert "Alice: are you there?" in [r["query"] for r in fake_dify.chat_requests]
