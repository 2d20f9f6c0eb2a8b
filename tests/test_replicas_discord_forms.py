"""A workflow's form answered on Discord across ``dify-bridge run`` replicas on PostgreSQL.

One replica shows the form and is stopped (a rolling deploy); the standby takes
the gateway over and gets the click: the form is submitted to Dify once and
the continuation arrives once, in the thread the form is in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dify_bridge.core import notices
from tests.discord_replicas import (
    DiscordReplica,
    replica_env,
    replicas_stopped_at_exit,
    start_replicas,
)
from tests.fakes.chatflow import FakeChatflow, Form
from tests.fakes.discord import FakeDiscord

DONE = "Here is the draft. Approved: sent."


def shown_form(discord: FakeDiscord, thread: int) -> dict[str, object] | None:
    for message in discord.channel_messages(thread):
        if any(b["custom_id"].startswith("dify_form:") for b in discord.buttons(message)):
            return message
    return None


@pytest.mark.timeout(240)
async def test_the_replica_that_did_not_show_the_form_takes_the_click_once(
    chatflow: FakeChatflow, postgres_url: str, tmp_path: Path
) -> None:
    chatflow.script(["Here is ", "the draft.", Form(inputs=()), " Approved: ", "sent."])
    async with FakeDiscord() as discord:
        guild = discord.add_guild("Dify fans")
        channel = discord.add_text_channel(guild, "general")
        alice, bob = (discord.add_user(name, guild=guild) for name in ("alice", "bob"))
        env = replica_env(discord, chatflow.url, postgres_url)
        replicas: list[DiscordReplica] = []
        async with replicas_stopped_at_exit(replicas):
            holder, standby = await start_replicas(env, tmp_path, replicas)
            assert standby.says("standing by"), "\n".join(standby.log)

            question = await discord.send_message(channel, alice, "draft it", mention_bot=True)
            thread = int(question["id"])
            await discord.wait_until(
                lambda: shown_form(discord, thread) is not None, timeout=30, what="the form"
            )
            form = shown_form(discord, thread)
            assert form is not None
            assert await holder.stop() == 0
            async with asyncio.timeout(30):  # a process's log is no fake event to wait on
                while not standby.says("Discord shard 0/1: held by this process"):
                    await asyncio.sleep(0.1)
            await discord.wait_until(
                lambda: discord.connected_sessions() == 1, timeout=30, what="the takeover"
            )

            approve, reject = (b["custom_id"] for b in discord.buttons(form))
            await discord.click(form, bob, approve)
            late = await discord.click(form, alice, reject)
            await discord.wait_until(
                lambda: DONE in discord.contents(thread), timeout=30, what="the continuation"
            )
            await discord.wait_until(
                lambda: bool(discord.followups.get(late)), timeout=30, what="the late click"
            )
    (post,) = chatflow.form_posts
    assert post.json["action"] == "approve"
    assert discord.contents(thread).count(DONE) == 1
    assert [t["id"] for t in discord.threads()] == [str(thread)]
    assert discord.followups[late][0]["content"] == notices.FORM_TAKEN
    assert discord.duplicate_identifies == []
