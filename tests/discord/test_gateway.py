"""The gateway connection: resumes, replays, new sessions, refusals, and who may talk."""

from __future__ import annotations

import logging
from pathlib import Path

import discord
import pytest

from dify_bridge.adapters.discord.adapter import PRIVILEGED_INTENTS_HELP, DiscordAdapter
from dify_bridge.config import DiscordSettings, Secret
from dify_bridge.errors import ConfigError
from tests.discord.conftest import Server
from tests.fakes.dify import FakeDify
from tests.fakes.discord import FakeDiscord
from tests.support import running_bridge


async def test_a_message_replayed_after_a_resume_is_not_answered_twice(server: Server) -> None:
    server.dify.script("Once.")
    async with server.bot():
        question = await server.ask("only once please")
        thread_id = int(question["id"])
        await server.wait_for_answer(thread_id, "Once.")
        # the connection drops and Discord replays events the client had already seen
        await server.discord.disconnect(code=4000, replay_since=question)
        await server.discord.wait_until(
            lambda: len(server.discord.resumes) == 1 and server.discord.connected_sessions() == 1,
            what="the client to resume",
        )
        server.dify.script("Next.")
        await server.discord.send_message(thread_id, server.alice, "next")
        await server.wait_for_answer(thread_id, "Next.", count=2)

    assert [r["query"] for r in server.dify.chat_requests] == [
        "Alice: only once please",
        "Alice: next",
    ]
    assert len(server.discord.identifies) == 1, "the session was resumed, not restarted"
    assert server.discord.contents(thread_id) == ["Once.", "Next."]


async def test_a_message_sent_while_disconnected_arrives_on_resume(server: Server) -> None:
    server.dify.script("Caught up.")
    async with server.bot():
        await server.discord.drop_connections()
        question = await server.ask("are you there?")
        await server.wait_for_answer(int(question["id"]), "Caught up.")
    assert len(server.discord.resumes) >= 1
    assert len(server.dify.chat_requests) == 1


async def test_after_an_invalid_session_the_bot_identifies_again_and_answers(
    server: Server,
) -> None:
    server.dify.script("New session, same bot.")
    async with server.bot():
        await server.discord.invalidate_sessions(resumable=False)
        await server.discord.wait_until(
            lambda: len(server.discord.identifies) == 2 and server.discord.connected_sessions(),
            what="a second IDENTIFY",
        )
        question = await server.ask("still working?")
        await server.wait_for_answer(int(question["id"]), "New session, same bot.")


async def test_the_gateway_stream_is_compressed_as_discord_py_asks(server: Server) -> None:
    async with server.bot():
        pass
    [query] = server.discord.gateway_queries
    # zlib-stream, or zstd-stream when the zstandard package is installed
    asked = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    assert query == {"v": "10", "encoding": "json", "compress": asked}
    assert asked in ("zlib-stream", "zstd-stream")


async def test_refused_message_content_intent_explains_the_fix(
    fake_dify: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        FakeDiscord(message_content_enabled=False) as discord,
        running_bridge(fake_dify.url, tmp_path / "bridge.db") as runtime,
    ):
        settings = DiscordSettings(
            bot_token=Secret(discord.token),
            api_url=discord.api_url,
            gateway_url=discord.gateway_url,
        )
        adapter = DiscordAdapter(settings, runtime.bridge, ready_timeout=10)
        with caplog.at_level(logging.ERROR), pytest.raises(ConfigError) as refused:
            await adapter.start()
    assert "MESSAGE CONTENT INTENT" in str(refused.value)
    assert [r.getMessage() for r in caplog.records].count(PRIVILEGED_INTENTS_HELP) == 1


async def test_a_wrong_token_is_a_config_error(fake_dify: FakeDify, tmp_path: Path) -> None:
    async with (
        FakeDiscord() as discord,
        running_bridge(fake_dify.url, tmp_path / "bridge.db") as runtime,
    ):
        settings = DiscordSettings(
            bot_token=Secret("not-the-token"),
            api_url=discord.api_url,
            gateway_url=discord.gateway_url,
        )
        adapter = DiscordAdapter(settings, runtime.bridge)
        with pytest.raises(ConfigError, match="DISCORD_BOT_TOKEN"):
            await adapter.start()
        assert discord.identifies == [], "nothing was sent to the gateway"


async def test_allow_lists_are_applied_before_the_bridge(server: Server) -> None:
    elsewhere = server.discord.add_text_channel(server.guild, "random")
    dm = server.discord.open_dm(server.alice)
    server.dify.script("Allowed.")
    env = {
        "DISCORD_ALLOWED_CHANNELS": str(server.general),
        "DISCORD_ALLOWED_ROLES": str(server.member_role),
    }
    async with server.bot(**env):
        await server.ask("wrong channel", channel=elsewhere)
        await server.discord.send_message(dm, server.alice, "a DM")
        await server.discord.send_message(
            server.general, server.bob, "bob has no role", mention_bot=True
        )
        question = await server.ask("alice may ask here")
        await server.wait_for_answer(int(question["id"]), "Allowed.")

    assert [r["query"] for r in server.dify.chat_requests] == ["Alice: alice may ask here"]
    assert len(server.discord.threads()) == 1


async def test_starting_against_an_unreachable_discord_fails_clearly(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    from dify_bridge.adapters.discord.adapter import DiscordUnavailable

    settings = DiscordSettings(
        bot_token=Secret("token"),
        api_url="http://127.0.0.1:9/api/v10",
        gateway_url="ws://127.0.0.1:9/gateway",
    )
    async with running_bridge(fake_dify.url, tmp_path / "bridge.db") as runtime:
        adapter = DiscordAdapter(settings, runtime.bridge)
        with pytest.raises(DiscordUnavailable, match="cannot reach Discord"):
            await adapter.start()


async def test_the_bot_runs_from_the_environment_like_dify_bridge_run(
    server: Server,
) -> None:
    """DISCORD_API_URL / DISCORD_GATEWAY_URL alone point the whole bot at the fake."""
    from dify_bridge.launch import platform_adapters

    server.dify.script("Configured by environment.")
    async with running_bridge(server.dify.url, server.db_path, **server.discord.env()) as rt:
        [adapter] = platform_adapters(rt)
        assert adapter.name == "discord"
        await adapter.start()
        try:
            question = await server.ask("hello")
            await server.wait_for_answer(int(question["id"]), "Configured by environment.")
        finally:
            await adapter.stop()


async def test_a_failing_event_is_logged_once_and_the_bot_carries_on(
    server: Server, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.ERROR)
    server.dify.script("Still answering.")
    server.dify.script("And again.")
    async with server.bot() as adapter:

        async def broken(payload: discord.RawReactionActionEvent, *, added: bool) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(adapter, "on_reaction", broken)
        thread_id = int((await server.ask("hello"))["id"])
        await server.wait_for_answer(thread_id, "Still answering.")
        [answer] = server.discord.channel_messages(thread_id)
        await server.discord.add_reaction(answer, server.alice, "👍")
        await server.discord.send_message(thread_id, server.alice, "still there?")
        await server.wait_for_answer(thread_id, "And again.", count=2)
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.getMessage() == "Discord event on_raw_reaction_add not handled"
    assert logged.exc_info is not None, "an unexpected failure keeps its trace"
