"""Discord shards across ``dify-bridge run`` processes on one PostgreSQL: each shard held by
exactly one gateway session, standbys taking over from a killed holder."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from dify_bridge.core import notices
from tests.discord_replicas import (
    DiscordReplica,
    replica_env,
    replicas_stopped_at_exit,
    start_replicas,
)
from tests.fakes.dify import FakeDify
from tests.fakes.discord import FakeDiscord

from .pg import PostgresCluster


def _guild_with_alice(discord: FakeDiscord, shard: tuple[int, int]) -> tuple[int, object]:
    guild = discord.add_guild(f"guild on shard {shard[0]}", shard=shard)
    channel = discord.add_text_channel(guild, "general")
    alice = discord.add_user(f"alice{shard[0]}", guild=guild)
    return channel, alice


async def _answered(discord: FakeDiscord, thread_id: int, text: str, *, count: int = 1) -> None:
    def shown() -> bool:
        texts = discord.contents(thread_id)
        return len(texts) >= count and texts[count - 1] == text

    await discord.wait_until(shown, timeout=30, what=f"answer {text!r}")


async def _ask(discord: FakeDiscord, channel: int, user: object, text: str) -> int:
    question = await discord.send_message(channel, user, text, mention_bot=True)  # type: ignore[arg-type]
    return int(question["id"])  # the bot opens the thread from the question's message


async def _eventually(predicate: object, what: str, within: float = 30) -> None:
    """Poll ``predicate`` (a process's log is no fake event to wait on)."""
    async with asyncio.timeout(within):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.1)


async def _healthy(replica: DiscordReplica) -> bool:
    """``GET /healthz`` on the replica's METRICS_PORT (it opens just after the adapter)."""
    async with asyncio.timeout(30), aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{replica.metrics_port}/healthz") as got:
                    return got.status == 200
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)


@pytest.mark.timeout(180)
async def test_two_replicas_split_two_shards_and_answer_each_guild_once(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path
) -> None:
    async with FakeDiscord() as discord:
        places = [_guild_with_alice(discord, (n, 2)) for n in range(2)]
        fake_dify.script("From shard 0.")
        fake_dify.script("From shard 1.")
        env = replica_env(discord, fake_dify.url, postgres_url, DISCORD_SHARD_COUNT="2")
        replicas: list[DiscordReplica] = []
        async with replicas_stopped_at_exit(replicas):
            first, second = await start_replicas(env, tmp_path, replicas)
            # the first took both; once it counts two replicas it hands one over
            await _eventually(lambda: second.says("held by this process"), "the split", 60)
            await discord.wait_until(
                lambda: discord.connected_shards() == [(0, 2), (1, 2)], timeout=60, what="2 shards"
            )
            for n, (channel, alice) in enumerate(places):
                thread = await _ask(discord, channel, alice, f"question {n}")
                await _answered(discord, thread, f"From shard {n}.")
    assert first.says("handed over to another replica")
    assert sum(second.says(f"Discord shard {n}/2: held by this process") for n in range(2)) == 1
    assert sorted(r["query"] for r in fake_dify.chat_requests) == [
        "Alice0: question 0",
        "Alice1: question 1",
    ]
    assert discord.duplicate_identifies == []


@pytest.mark.timeout(240)
async def test_a_standby_is_healthy_and_takes_over_from_a_killed_holder(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path
) -> None:
    async with FakeDiscord() as discord:
        guild = discord.add_guild("Dify fans")
        channel = discord.add_text_channel(guild, "general")
        alice = discord.add_user("alice", guild=guild)
        env = replica_env(discord, fake_dify.url, postgres_url)
        replicas: list[DiscordReplica] = []
        async with replicas_stopped_at_exit(replicas):
            holder, standby = await start_replicas(env, tmp_path, replicas)
            assert standby.says("standing by"), "\n".join(standby.log)
            assert await _healthy(standby)
            assert discord.connected_shards() == [None], "one session for the one shard"

            fake_dify.script("Before.")
            thread = await _ask(discord, channel, alice, "first")
            await _answered(discord, thread, "Before.")
            await _eventually(lambda: holder.says("turn answered in"), "the turn recorded")

            identified = len(discord.identifies)
            await holder.kill()
            # the standby identifies (its next try comes within 5 s; the bound is generous)
            await discord.wait_until(
                lambda: len(discord.identifies) > identified and discord.connected_sessions() == 1,
                timeout=30,
                what="the standby's IDENTIFY",
            )
            await _eventually(lambda: standby.says("Discord shard 0/1: held by this process"), "")

            fake_dify.script("After.")
            await discord.send_message(thread, alice, "still there?")
            await _answered(discord, thread, "After.", count=2)
    first, second = fake_dify.chat_requests
    assert second["conversation_id"] == first_conversation(fake_dify), "the same conversation"
    assert first["query"] == "Alice: first" and second["query"] == "Alice: still there?"
    assert discord.duplicate_identifies == []


def first_conversation(dify: FakeDify) -> str:
    (conversation,) = dify.conversations.values()
    return str(conversation.id)


@pytest.mark.timeout(240)
async def test_a_replica_that_loses_its_database_connection_closes_its_shard_at_once(
    fake_dify: FakeDify, postgres_url: str, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    async with FakeDiscord() as discord:
        discord.add_guild("Dify fans")
        env = replica_env(discord, fake_dify.url, postgres_url)
        replicas: list[DiscordReplica] = []
        async with replicas_stopped_at_exit(replicas):
            holder, _standby = await start_replicas(env, tmp_path, replicas)
            database = urlsplit(postgres_url).path.lstrip("/")
            # the holder's claim connection: the one whose session holds an advisory lock
            killed = postgres_cluster.psql(
                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a"
                " JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.objsubid = 1"
                f" WHERE a.application_name = 'dify-bridge discord shards' AND a.datname = '{database}'"
            )
            assert killed.split() == ["t"], "the holder's claim connection ended"
            await _eventually(
                lambda: holder.says("the claim is lost; closing its gateway"), "closed"
            )
            # someone (the standby, or the holder on a new connection) holds the shard again
            await discord.wait_until(
                lambda: discord.connected_sessions() == 1 and len(discord.identifies) >= 2,
                timeout=30,
                what="the shard held again",
            )
    assert discord.duplicate_identifies == [], "never two sessions on one shard"


@pytest.mark.timeout(240)
async def test_an_answer_a_killed_holder_was_streaming_is_marked_interrupted_by_the_standby(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path
) -> None:
    async with FakeDiscord() as discord:
        guild = discord.add_guild("Dify fans")
        channel = discord.add_text_channel(guild, "general")
        alice = discord.add_user("alice", guild=guild)
        env = replica_env(discord, fake_dify.url, postgres_url)
        replicas: list[DiscordReplica] = []
        async with replicas_stopped_at_exit(replicas):
            holder, standby = await start_replicas(env, tmp_path, replicas)
            fake_dify.script([f"w{i} " for i in range(600)], delay=0.05)  # about 30 s
            thread = await _ask(discord, channel, alice, "a long one")

            def shown() -> list[dict[str, object]]:
                return [
                    m
                    for m in discord.channel_messages(thread)
                    if m["author"]["id"] == str(discord.bot.id)
                ]

            def streaming() -> bool:
                messages = shown()
                return (
                    bool(messages)
                    and bool(messages[-1]["components"])
                    and ("w3" in str(messages[-1]["content"]))
                )

            await discord.wait_until(streaming, timeout=30, what="the answer with its Stop button")
            await holder.kill()
            line = f"⚠️ {notices.INTERRUPTED}"
            await discord.wait_until(
                lambda: str(shown()[-1]["content"]).endswith(line),
                timeout=60,
                what="the interrupted line",
            )
    (answer,) = shown()
    assert answer["components"] == [], "the Stop button stayed on a dead replica's answer"
    assert str(answer["content"]).startswith("w0 w1 w2"), "the text so far was kept"
    assert standby.says("marked the answer in")
