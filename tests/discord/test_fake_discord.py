"""The fake Discord itself: what discord.py relies on, checked over the wire."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import discord

from dify_bridge.adapters.discord.client import DiscordConnection
from dify_bridge.config import DiscordSettings, Secret
from tests.fakes.discord import FakeDiscord


class _NoEvents:
    async def on_message(self, message: discord.Message) -> None:
        pass

    async def on_reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        pass

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        pass


def _connection(fake: FakeDiscord) -> DiscordConnection:
    settings = DiscordSettings(
        bot_token=Secret(fake.token), api_url=fake.api_url, gateway_url=fake.gateway_url
    )
    return DiscordConnection(settings, _NoEvents(), ready_timeout=10, guild_ready_timeout=0.05)


async def test_rest_answers_in_discords_shape() -> None:
    async with FakeDiscord() as fake, aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bot {fake.token}"}
        async with http.get(f"{fake.api_url}/gateway/bot", headers=auth) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert "Via" in response.headers
            body: dict[str, Any] = await response.json()
            assert body["url"] == fake.gateway_url and body["shards"] == 1
        async with http.get(f"{fake.api_url}/users/@me") as response:
            assert response.status == 401, "no token, no answer"
        async with http.get(f"{fake.api_url}/channels/1", headers=auth) as response:
            assert response.status == 404
            assert (await response.json())["code"] == 10003


async def test_files_arrive_as_multipart_with_payload_json() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        channel_id = fake.add_text_channel(guild)
        connection = _connection(fake)
        client = await connection.start()
        try:
            channel = client.get_partial_messageable(channel_id, guild_id=guild.id)
            await channel.send("with a file", file=discord.File(io.BytesIO(b"hi"), "a.txt"))
        finally:
            await connection.stop()
        [call] = fake.requests("POST", rf"^/channels/{channel_id}/messages$")
        assert call.json["content"] == "with a file"
        assert call.json["_files"] == ["files[0]"]
        assert fake.contents(channel_id) == ["with a file"]


async def test_a_global_429_is_waited_out_by_discord_py() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        channel_id = fake.add_text_channel(guild)
        fake.rate_limit("POST", "/messages$", retry_after=0.2, is_global=True)
        connection = _connection(fake)
        client = await connection.start()
        try:
            await client.get_partial_messageable(channel_id).send("eventually")
        finally:
            await connection.stop()
        assert [c.status for c in fake.requests("POST", "/messages$")] == [429, 200]
        assert fake.contents(channel_id) == ["eventually"]


def test_the_fake_refuses_modals_discord_would_refuse() -> None:
    from tests.fakes.discord.modals import modal_problem

    text = {"type": 4, "custom_id": "f0", "style": 2, "label": "Comment"}
    good = {"custom_id": "m", "title": "Form", "components": [{"type": 1, "components": [text]}]}
    assert modal_problem(3, good) == ""
    assert modal_problem(5, good), "a modal cannot answer a modal submission"
    assert modal_problem(3, good | {"title": "x" * 46})
    assert modal_problem(3, good | {"components": [good["components"][0]] * 6})
    long_label = {"type": 1, "components": [text | {"label": "x" * 46}]}
    assert modal_problem(3, good | {"components": [long_label]})


async def test_history_pages_newest_first_and_refuses_what_discord_refuses() -> None:
    async with FakeDiscord() as fake, aiohttp.ClientSession() as http:
        guild = fake.add_guild()
        channel = fake.add_text_channel(guild)
        alice = fake.add_user("alice", guild=guild)
        sent = [await fake.send_message(channel, alice, f"m{n}") for n in range(5)]
        auth = {"Authorization": f"Bot {fake.token}"}
        url = f"{fake.api_url}/channels/{channel}/messages"

        async def page(**query: str) -> tuple[int, Any]:
            async with http.get(url, headers=auth, params=query) as response:
                return response.status, await response.json()

        status, body = await page(before=sent[3]["id"], limit="2")
        assert status == 200 and [m["content"] for m in body] == ["m2", "m1"]
        status, body = await page(after=sent[0]["id"], limit="2")
        assert [m["content"] for m in body] == ["m2", "m1"], "the ones right after, newest first"
        status, body = await page()
        assert [m["content"] for m in body] == ["m4", "m3", "m2", "m1", "m0"]
        status, body = await page(limit="101")
        assert status == 400 and body["code"] == 50035
        fake.without_history.add(channel)
        assert await page() == (200, [])
        fake.hidden_channels.add(channel)
        status, body = await page()
        assert status == 403 and body == {"message": "Missing Access", "code": 50001}
