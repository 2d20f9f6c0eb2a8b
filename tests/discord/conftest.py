"""A Discord server with one guild, a #general channel and two people, plus the running bot.

The bot is the real thing: discord.py against :class:`FakeDiscord`, the real
bridge and SQLite store, and the shared fake Dify.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dify_bridge.adapters.discord.adapter import DiscordAdapter
from tests.fakes.dify import FakeDify
from tests.fakes.discord import FakeDiscord, FakeGuild, FakeUser
from tests.support import running_bridge


@dataclass
class Server:
    """What a test talks about: the fake Discord, its guild, channel and people."""

    discord: FakeDiscord
    dify: FakeDify
    db_path: Path
    guild: FakeGuild
    general: int
    member_role: int
    alice: FakeUser
    bob: FakeUser

    async def ask(self, text: str, *, channel: int | None = None, **kw: Any) -> dict[str, Any]:
        """Alice mentions the bot in #general (or ``channel``)."""
        return await self.discord.send_message(
            channel or self.general, self.alice, text, mention_bot=True, **kw
        )

    async def wait_for_answer(self, channel_id: int, answer: str, *, count: int = 1) -> None:
        """Wait until the bot's ``count``-th message in the channel reads ``answer``."""

        def shown() -> bool:
            texts = self.discord.contents(channel_id)
            return len(texts) >= count and texts[count - 1] == answer

        await self.discord.wait_until(
            shown, timeout=15, what=f"answer {count} {answer!r} in channel {channel_id}"
        )

    @contextlib.asynccontextmanager
    async def bot(self, **env: str) -> AsyncIterator[DiscordAdapter]:
        """The bot running as ``dify-bridge run`` would run it (extra settings in ``env``)."""
        async with running_bridge(self.dify.url, self.db_path, **self.discord.env(), **env) as rt:
            assert rt.settings.discord is not None
            adapter = DiscordAdapter(
                rt.settings.discord, rt.bridge, ready_timeout=10, guild_ready_timeout=0.05
            )
            await adapter.start()
            try:
                yield adapter
            finally:
                await rt.bridge.shutdown(1.0)
                await adapter.stop()


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def server(fake_discord: FakeDiscord, fake_dify: FakeDify, tmp_path: Path) -> Server:
    guild = fake_discord.add_guild("Dify fans")
    general = fake_discord.add_text_channel(guild, "general")
    member_role = fake_discord.add_role(guild, "member")
    alice = fake_discord.add_user("alice", guild=guild, roles=(member_role,))
    bob = fake_discord.add_user("bob", guild=guild)
    return Server(
        fake_discord, fake_dify, tmp_path / "bridge.db", guild, general, member_role, alice, bob
    )
