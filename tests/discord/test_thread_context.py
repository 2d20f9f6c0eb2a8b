"""Joining a conversation on Discord: a thread someone started, or a reply, brings what was said."""

from __future__ import annotations

import logging

import pytest

from dify_bridge.core import history
from tests.discord.conftest import Server
from tests.fakes.discord import FakeFile


async def _thread_by_bob(server: Server, topic: str) -> int:
    """Bob posts ``topic`` in #general and starts a thread from it, as people do."""
    starter = await server.discord.send_message(server.general, server.bob, topic)
    return await server.discord.start_thread(starter, server.bob, topic)


async def test_a_mention_in_a_thread_someone_started_brings_its_earlier_messages(
    server: Server,
) -> None:
    discord = server.discord
    ci = discord.add_user("ci", guild=server.guild, bot=True)
    server.dify.script("Probably not.")
    server.dify.script("Still not.")
    async with server.bot():
        thread_id = await _thread_by_bob(server, "Shall we launch in May?")
        await discord.send_message(thread_id, server.alice, f"Only if <@{server.bob.id}> agrees.")
        await discord.send_message(thread_id, ci, "Build 42 failed.")
        await discord.send_message(thread_id, discord.bot, "An earlier note of mine.")
        picture = FakeFile("plan.png", "image/png", b"png")
        await discord.send_message(thread_id, server.bob, "", files=[picture])  # no text: no line
        mention = await server.ask("what do you think?", channel=thread_id)
        await server.wait_for_answer(thread_id, "Probably not.", count=2)
        await discord.send_message(thread_id, server.bob, "and June?")
        await server.wait_for_answer(thread_id, "Still not.", count=3)

    first, second = (r["query"] for r in server.dify.chat_requests)
    assert first == (
        "Earlier in this thread:\n"
        "Bob: Shall we launch in May?\n"
        "Alice: Only if @Bob agrees.\n"
        "Ci (bot): Build 42 failed.\n"
        "Assistant: An earlier note of mine.\n"
        "\n"
        "Alice: what do you think?"
    )
    assert second == "Bob: and June?", "the history goes with the first turn only"
    [read] = discord.requests("GET", rf"^/channels/{thread_id}/messages$")
    assert read.status == 200
    assert int(mention["id"]) in discord.history[thread_id], "read up to the mention"
    assert not discord.requests("POST", "/threads$"), "answered in the thread itself"


@pytest.mark.parametrize(("count", "size"), [(30, 10), (12, 1000)])
async def test_the_history_is_capped_newest_first(server: Server, count: int, size: int) -> None:
    server.dify.script("Answer.")
    async with server.bot():
        thread_id = await _thread_by_bob(server, "a long thread")
        for n in range(count):
            await server.discord.send_message(thread_id, server.alice, f"{n:03d}" + "x" * size)
        await server.ask("sum it up", channel=thread_id)
        await server.wait_for_answer(thread_id, "Answer.", count=1)

    query = server.dify.chat_requests[0]["query"]
    context, _, question = query.rpartition("\n\n")
    assert question == "Alice: sum it up"
    lines = context.splitlines()[1:]
    whole = len("Alice: ") + 3 + size
    assert len(lines) <= history.MAX_MESSAGES and len(context) <= history.MAX_CHARS
    assert [int(line[7:10]) for line in lines] == list(range(count - len(lines), count)), (
        "the newest messages, in order"
    )
    assert all(len(line) == whole for line in lines[1:]), "whole, but for the oldest one kept"
    assert len(lines) == history.MAX_MESSAGES or len(context) > history.MAX_CHARS - whole, (
        "as many as the caps allow"
    )


async def test_a_thread_the_bot_may_not_read_is_answered_without_its_history(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.dify.script("Answer anyway.")
    async with server.bot():
        thread_id = await _thread_by_bob(server, "private talk")
        await server.discord.send_message(thread_id, server.bob, "secret plans")
        server.discord.hidden_channels.add(thread_id)
        await server.ask("hello?", channel=thread_id)
        await server.wait_for_answer(thread_id, "Answer anyway.")

    assert server.dify.chat_requests[0]["query"] == "Alice: hello?"
    [refused] = server.discord.requests("GET", rf"^/channels/{thread_id}/messages$")
    assert refused.status == 403
    lines = [r for r in caplog.records if "without the thread's earlier messages" in r.message]
    assert len(lines) == 1 and "403 Missing Access" in lines[0].message
    assert not any(r.exc_info for r in caplog.records)


async def test_a_mention_that_replies_brings_the_replied_to_messages(server: Server) -> None:
    discord = server.discord
    carol = discord.add_user("carol", guild=server.guild)
    server.dify.script("Here is a summary.")
    async with server.bot():
        root = await discord.send_message(server.general, server.bob, "The build is red.")
        why = await discord.send_message(server.general, carol, "The flaky test?", reply_to=root)
        question = await server.ask("can you summarise?", reply_to=why)
        thread_id = int(question["id"])
        await server.wait_for_answer(thread_id, "Here is a summary.")

    assert server.dify.chat_requests[0]["query"] == (
        "The question replies to:\n"
        "Bob: The build is red.\n"
        "Carol: The flaky test?\n"
        "\n"
        "Alice: can you summarise?"
    )
    [thread] = discord.threads()
    assert thread["id"] == question["id"], "the bot opens its thread as for any mention"
    # the gateway brought the reply; one look-up brought the message it replies to
    assert [c.path for c in discord.requests("GET", "/messages/")] == [
        f"/channels/{server.general}/messages/{root['id']}"
    ]


async def test_a_reply_to_a_deleted_message_goes_without_it(server: Server) -> None:
    discord = server.discord
    server.dify.script("Fine.")
    async with server.bot():
        gone = await discord.send_message(server.general, server.bob, "soon deleted")
        discord.messages.pop(int(gone["id"]))
        discord.history[server.general].remove(int(gone["id"]))
        question = await server.ask("what was that?", reply_to=gone)
        await server.wait_for_answer(int(question["id"]), "Fine.")

    assert server.dify.chat_requests[0]["query"] == "Alice: what was that?"
