"""Shards in one process (SQLite: this process holds them all), and what the gateway refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from dify_bridge.adapters.discord.adapter import DiscordAdapter
from dify_bridge.config import DiscordSettings, Secret
from dify_bridge.errors import ConfigError
from tests.discord.conftest import Server
from tests.fakes.dify import FakeDify
from tests.fakes.discord import FakeDiscord
from tests.support import running_bridge


async def test_one_process_on_sqlite_holds_every_shard_and_each_guild_is_answered_once(
    server: Server,
) -> None:
    other = server.discord.add_guild("other guild", shard=(1, 2))
    channel = server.discord.add_text_channel(other, "general")
    carol = server.discord.add_user("carol", guild=other)
    dm = server.discord.open_dm(server.alice)
    server.dify.script("One.")
    server.dify.script("Two.")
    server.dify.script("Three.")
    async with server.bot(DISCORD_SHARD_COUNT="2") as adapter:
        assert adapter.shards() == [0, 1]
        assert server.discord.connected_shards() == [(0, 2), (1, 2)]
        first = await server.ask("in the first guild")
        await server.wait_for_answer(int(first["id"]), "One.")
        second = await server.discord.send_message(channel, carol, "in the other", mention_bot=True)
        await server.wait_for_answer(int(second["id"]), "Two.")
        await server.discord.send_message(dm, server.alice, "a DM")
        await server.wait_for_answer(dm, "Three.")
    assert [i["shard"] for i in server.discord.identifies] == [[0, 2], [1, 2]]
    assert len(server.dify.chat_requests) == 3, "each event reached one session"


async def test_sharding_required_names_the_setting_and_the_count(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    async with (
        FakeDiscord(guilds_per_shard=1) as discord,
        running_bridge(fake_dify.url, tmp_path / "bridge.db") as runtime,
    ):
        for n in range(3):
            discord.add_guild(f"guild {n}")
        settings = DiscordSettings(
            bot_token=Secret(discord.token),
            api_url=discord.api_url,
            gateway_url=discord.gateway_url,
        )
        adapter = DiscordAdapter(settings, runtime.bridge, ready_timeout=10)
        with pytest.raises(ConfigError, match="DISCORD_SHARD_COUNT=3"):
            await adapter.start()
