"""Slack and Discord answered by one process, as `dify-bridge run` starts them."""

from __future__ import annotations

from pathlib import Path

from dify_bridge.adapters.slack.app import SlackAdapter
from dify_bridge.launch import platform_adapters
from tests.fakes.dify import FakeDify

from .fakes.discord import FakeDiscord
from .fakes.slack import FakeSlack
from .slack.conftest import SlackBot, slack_env
from .support import running_bridge


async def test_slack_and_discord_in_one_process(fake_dify: FakeDify, tmp_path: Path) -> None:
    slack = FakeSlack()
    await slack.start()
    try:
        async with FakeDiscord() as discord:
            guild = discord.add_guild("Dify fans")
            general = discord.add_text_channel(guild, "general")
            alice = discord.add_user("alice", guild=guild)
            env = slack_env(slack, fake_dify, tmp_path / "b.db") | discord.env()
            async with running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt:
                adapters = platform_adapters(rt)
                assert sorted(a.name for a in adapters) == ["discord", "slack"]
                for adapter in adapters:
                    await adapter.start()
                try:
                    (slack_adapter,) = [a for a in adapters if isinstance(a, SlackAdapter)]
                    bot = SlackBot(slack, fake_dify, slack_adapter, rt)
                    await bot.ask("C1", "asked on Slack")
                    question = await discord.send_message(
                        general, alice, "asked on Discord", mention_bot=True
                    )
                    thread = int(question["id"])
                    await discord.wait_until(
                        lambda: any("asked on Discord" in t for t in discord.contents(thread)),
                        timeout=15,
                        what="the Discord answer",
                    )
                finally:
                    await rt.bridge.shutdown(1.0)
                    for adapter in adapters:
                        await adapter.stop()
    finally:
        await slack.close()
    users = sorted(r["user"].split(":")[0] for r in fake_dify.chat_requests)
    assert users == ["discord", "slack"], "each platform's thread is its own conversation"
