"""One chatflow thread as a person sees it, on Slack or on Discord, through the real clients.

A :class:`Place` runs the real bridge with the real slack-bolt app (streaming
messages, or ``SLACK_STREAMING=edits``) or discord.py against the fake
platform and the fake chatflow, asks one question and reads the thread back:
the text shown now, every text the platform was ever sent for it (posts,
edits, a growing stream as it grew) and the live status line. Tests that must
hold on every platform take the ``place`` fixture and read it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dify_bridge.adapters.discord.adapter import DiscordAdapter
from dify_bridge.ops.runtime import Runtime
from tests.fakes.chatflow import FakeChatflow
from tests.fakes.discord import FakeDiscord, FakeUser
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import running_slack_bot
from tests.support import running_bridge

STATUS_LINE = re.compile(r"\n*_([^_\n]+)_$")
"""The transient status line the writer puts under an answer that is edited in place."""
SLACK_TEXT_CALLS = ("chat.postMessage", "chat.update", "chat.postEphemeral")
SLACK_STREAM_CALLS = ("chat.startStream", "chat.appendStream", "chat.stopStream")
WAIT = 20.0


def split_status(text: str) -> tuple[str, str]:
    """A shown text as (answer, status line under it)."""
    found = STATUS_LINE.search(text)
    if found is None:
        return text, ""
    return text[: found.start()], found.group(1)


@dataclass
class Place:
    """The thread of one question; subclasses know their platform."""

    name: str
    chatflow: FakeChatflow
    database: str
    thread: str = ""
    runtime: Runtime | None = None

    @property
    def status_outside_text(self) -> bool:
        """The status line is the platform's own (Slack's thread status), never message text."""
        return False

    @contextlib.asynccontextmanager
    async def running(self, **env: str) -> AsyncIterator[None]:
        raise NotImplementedError
        yield

    async def ask(self, text: str) -> None:
        """A person asks in a channel; the bot answers in a thread."""
        raise NotImplementedError

    def texts(self) -> list[str]:
        """The bot's messages in the thread as they read now, oldest first."""
        raise NotImplementedError

    def seen(self) -> list[str]:
        """Every text of the thread the platform was sent, in order (intermediate ones too)."""
        raise NotImplementedError

    def statuses(self) -> list[str]:
        """Every live status shown while answering, in order ("" when it was cleared)."""
        return [split_status(text)[1] for text in self.seen()]

    def status_now(self) -> str:
        shown = self.statuses()
        return shown[-1] if shown else ""

    def latest(self) -> str:
        """The answer text most recently shown, without its status line."""
        shown = self.seen()
        return split_status(shown[-1])[0] if shown else ""

    async def wait_until(self, check: Callable[[], bool], what: str) -> None:
        raise NotImplementedError

    def turns(self, outcome: str) -> int:
        """Turns the bridge ended with ``outcome`` (answered, failed…), from its metrics."""
        assert self.runtime is not None, "the bot is not running"
        labels = {"platform": self.name.split("-")[0], "outcome": outcome}
        found = self.runtime.bridge.metrics.registry.get_sample_value(
            "dify_bridge_turns_total", labels
        )
        return int(found or 0)

    async def ended(self, outcome: str = "answered") -> None:
        """Until the turn ended (its final text written) with ``outcome``."""
        try:
            async with asyncio.timeout(WAIT):  # the bridge's metrics are no platform event
                while not self.turns(outcome):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"no turn {outcome}; the thread saw {self.seen()}") from None


@dataclass
class SlackPlace(Place):
    slack: FakeSlack = field(kw_only=True)
    channel: str = "C1"
    url: str = ""
    """The bot's Events API URL while it runs."""

    @property
    def streaming(self) -> bool:
        return self.name == "slack"

    @property
    def status_outside_text(self) -> bool:
        return self.streaming

    @contextlib.asynccontextmanager
    async def running(self, **env: str) -> AsyncIterator[None]:
        mode = "auto" if self.streaming else "edits"
        path = Path(self.database.removeprefix("sqlite:///"))
        async with running_slack_bot(
            self.slack,
            self.chatflow,  # type: ignore[arg-type]  (the same Service API URL and key)
            path,
            SLACK_STREAMING=mode,
            **env,
        ) as bot:
            self.url, self.runtime = bot.events_url, bot.runtime
            yield

    async def ask(self, text: str) -> None:
        event = self.slack.user_message(self.channel, text, mention=True, event_type="app_mention")
        status, body = await self.slack.post_event(self.url, self.slack.event_callback(event))
        assert status == 200, body
        self.thread = str(event["ts"])

    def texts(self) -> list[str]:
        return [m.visible for m in self.slack.thread(self.channel, self.thread)]

    def seen(self) -> list[str]:
        shown: list[str] = []
        grown: dict[str, str] = {}  # a streaming message's text so far, by its ts
        started = ""  # a start's text (its ts comes only in Slack's answer)
        for call in self._calls(SLACK_TEXT_CALLS + SLACK_STREAM_CALLS):
            if call.method in SLACK_TEXT_CALLS:
                shown.append(_slack_visible(call.args))
            elif call.method == "chat.startStream":
                started = _stream_text(call.args)
                shown.append(started)
            else:
                ts = str(call.args.get("ts"))
                grown[ts] = grown.get(ts, started) + _stream_text(call.args)
                shown.append(grown[ts])
        return shown

    def statuses(self) -> list[str]:
        if not self.streaming:
            return super().statuses()
        return self.slack.statuses(self.channel, self.thread)

    def _calls(self, methods: tuple[str, ...]) -> Iterator[Any]:
        for call in self.slack.calls:
            in_thread = self.thread in (call.args.get("thread_ts"), call.args.get("ts"))
            if call.method in methods and call.ok and (in_thread or _ts_of(self, call)):
                yield call

    async def wait_until(self, check: Callable[[], bool], what: str) -> None:
        try:
            await self.slack.wait_until(check, within=WAIT)
        except TimeoutError:
            raise AssertionError(f"waited in vain for {what}; the thread: {self.seen()}") from None


def _ts_of(place: SlackPlace, call: Any) -> bool:
    """An edit or append names the message, not the thread: is the message in the thread?"""
    ts = call.args.get("ts")
    message = place.slack.messages.get((place.channel, str(ts))) if ts else None
    return message is not None and message.thread_ts == place.thread


def _slack_visible(args: dict[str, Any]) -> str:
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    texts = [
        str(b.get("text", {}).get("text", "")) if b.get("type") == "section" else str(b["text"])
        for b in blocks or []
        if b.get("type") in ("section", "markdown")
    ]
    return "".join(texts) or str(args.get("text") or args.get("markdown_text") or "")


def _stream_text(args: dict[str, Any]) -> str:
    text = str(args.get("markdown_text") or "")
    return text + "".join(str(c.get("text", "")) for c in args.get("chunks") or [])


@dataclass
class DiscordPlace(Place):
    discord: FakeDiscord = field(kw_only=True)

    def __post_init__(self) -> None:
        guild = self.discord.add_guild("Dify fans")
        self.general = self.discord.add_text_channel(guild, "general")
        self.alice: FakeUser = self.discord.add_user("alice", guild=guild)

    @contextlib.asynccontextmanager
    async def running(self, **env: str) -> AsyncIterator[None]:
        async with running_bridge(
            self.chatflow.url, self.database, **self.discord.env(), **env
        ) as rt:
            assert rt.settings.discord is not None
            adapter = DiscordAdapter(
                rt.settings.discord, rt.bridge, ready_timeout=10, guild_ready_timeout=0.05
            )
            await adapter.start()
            self.runtime = rt
            try:
                yield
            finally:
                await rt.bridge.shutdown(1.0)
                await adapter.stop()

    async def ask(self, text: str) -> None:
        question = await self.discord.send_message(self.general, self.alice, text, mention_bot=True)
        self.thread = str(question["id"])  # the bot opens its thread on the question

    def texts(self) -> list[str]:
        return self.discord.contents(int(self.thread))

    def seen(self) -> list[str]:
        prefix = f"/channels/{self.thread}/messages"
        return [
            str(call.json.get("content") or "")
            for call in self.discord.calls
            if call.method in ("POST", "PATCH")
            and call.path.startswith(prefix)
            and isinstance(call.json, dict)
            and "content" in call.json
        ]

    async def wait_until(self, check: Callable[[], bool], what: str) -> None:
        await self.discord.wait_until(check, timeout=WAIT, what=what)


PLACES = ("slack", "slack-edits", "discord")
"""Slack with streaming messages, Slack edited in place, Discord."""


@pytest.fixture(params=PLACES)
async def place(
    request: pytest.FixtureRequest, chatflow: FakeChatflow, tmp_path: Path
) -> AsyncIterator[Place]:
    database = f"sqlite:///{tmp_path / 'bridge.db'}"
    if request.param == "discord":
        async with FakeDiscord() as discord:
            yield DiscordPlace("discord", chatflow, database, discord=discord)
        return
    slack = FakeSlack()
    await slack.start()
    try:
        yield SlackPlace(request.param, chatflow, database, slack=slack)
    finally:
        await slack.close()
