"""A user's story in Discord: mention, thread, follow-ups, restarts, lost conversations, DMs."""

from __future__ import annotations

from dify_bridge.core import notices
from tests.discord.conftest import Server


def _conversation_ids(server: Server) -> list[str]:
    return [str(r.get("conversation_id") or "") for r in server.dify.chat_requests]


async def test_a_mention_opens_a_thread_and_the_answer_streams_into_it(server: Server) -> None:
    answer = "Dify is an open-source platform for building LLM apps. " * 4
    server.dify.script(answer.strip(), delay=0.08)
    async with server.bot():
        question = await server.ask("What is Dify, in a few words?")
        thread_id = int(question["id"])  # Discord names a message's thread after the message
        await server.wait_for_answer(thread_id, answer.strip())

    discord = server.discord
    [thread] = discord.threads()
    assert thread["name"] == "What is Dify, in a few words?"
    assert thread["parent_id"] == str(server.general)
    assert discord.contents(server.general) == [], "the answer belongs in the thread only"
    [request] = server.dify.chat_requests
    assert request["query"] == "Alice: What is Dify, in a few words?"
    assert request["user"] == f"discord:{server.guild.id}:{thread_id}"
    posts = discord.requests("POST", rf"^/channels/{thread_id}/messages$")
    edits = discord.requests("PATCH", rf"^/channels/{thread_id}/messages/")
    assert len(posts) == 1 and edits, "the first text is posted, then edited as it grows"
    assert answer.startswith(posts[0].json["content"])
    assert all(c.json["allowed_mentions"] == {"parse": []} for c in posts + edits)
    assert discord.requests("POST", rf"^/channels/{thread_id}/typing$"), "typing was shown"
    assert discord.ratelimited == [], "the answer stayed inside Discord's rate limits"


async def test_follow_ups_in_the_thread_need_no_mention(server: Server) -> None:
    server.dify.script("First answer.")
    server.dify.script("Second answer.")
    async with server.bot():
        thread_id = int((await server.ask("hello"))["id"])
        await server.wait_for_answer(thread_id, "First answer.")
        await server.discord.send_message(thread_id, server.bob, "and then?")
        await server.wait_for_answer(thread_id, "Second answer.", count=2)

    first, second = server.dify.chat_requests
    [conversation] = server.dify.conversations.values()
    assert second["query"] == "Bob: and then?"
    assert second["conversation_id"] == conversation.id, "the follow-up continues the conversation"
    assert first["user"] == second["user"] == conversation.user
    assert len(server.discord.threads()) == 1


async def test_messages_without_a_mention_outside_known_threads_are_ignored(
    server: Server,
) -> None:
    server.dify.script("Answer.")
    async with server.bot():
        await server.discord.send_message(server.general, server.alice, "just chatting")
        thread_id = int((await server.ask("question"))["id"])
        await server.wait_for_answer(thread_id, "Answer.")
        await server.discord.send_message(server.general, server.bob, "more chatting")
        # an answered message proves the earlier plain one was seen and passed over
        server.dify.script("Second.")
        await server.discord.send_message(thread_id, server.bob, "in the thread")
        await server.wait_for_answer(thread_id, "Second.", count=2)
    assert [r["query"] for r in server.dify.chat_requests] == [
        "Alice: question",
        "Bob: in the thread",
    ]


async def test_a_restart_keeps_the_thread_conversation(server: Server) -> None:
    server.dify.script("Before the restart.")
    async with server.bot():
        thread_id = int((await server.ask("remember me"))["id"])
        await server.wait_for_answer(thread_id, "Before the restart.")
    first_conversation = _conversation_ids(server)
    # after the restart the thread is not in discord.py's cache: the adapter looks it up
    server.discord.threads_in_guild_create = False
    server.dify.script("After the restart.")
    async with server.bot():
        await server.discord.send_message(thread_id, server.alice, "still there?")
        await server.wait_for_answer(thread_id, "After the restart.", count=2)

    assert first_conversation == [""]
    conversation_id = server.dify.chat_requests[1]["conversation_id"]
    assert conversation_id and conversation_id in server.dify.conversations
    assert server.discord.requests("GET", rf"^/channels/{thread_id}$"), "the thread was looked up"


async def test_a_lost_conversation_is_replaced_with_a_short_notice(server: Server) -> None:
    server.dify.script("One.")
    async with server.bot():
        thread_id = int((await server.ask("start"))["id"])
        await server.wait_for_answer(thread_id, "One.")
        [old] = list(server.dify.conversations)
        server.dify.delete_conversation(old)
        server.dify.script("Fresh start.")
        await server.discord.send_message(thread_id, server.alice, "next")
        await server.wait_for_answer(thread_id, notices.LOST_CONTEXT + "\n\nFresh start.", count=2)
        [new] = list(server.dify.conversations)
        server.dify.script("Continuing.")
        await server.discord.send_message(thread_id, server.alice, "and now?")
        await server.wait_for_answer(thread_id, "Continuing.", count=3)

    assert new != old
    assert server.dify.chat_requests[-1]["conversation_id"] == new


async def test_a_dm_channel_is_one_conversation(server: Server) -> None:
    dm = server.discord.open_dm(server.alice)
    server.dify.script("Hi Alice.")
    server.dify.script("Still me.")
    async with server.bot():
        await server.discord.send_message(dm, server.alice, "hi")
        await server.wait_for_answer(dm, "Hi Alice.")
        await server.discord.send_message(dm, server.alice, "again")
        await server.wait_for_answer(dm, "Still me.", count=2)

    first, second = server.dify.chat_requests
    assert first["query"] == "hi", "a DM is not shared: no speaker name"
    assert first["user"] == second["user"] == f"discord:dm:{dm}"
    assert second["conversation_id"] in server.dify.conversations
    assert server.discord.threads() == []


async def test_a_mention_inside_a_thread_maps_that_thread(server: Server) -> None:
    server.dify.script("Answer.")
    async with server.bot():
        starter = await server.discord.send_message(server.general, server.bob, "side topic")
        # a thread the bot was not part of (here one with no starter message, as a forum
        # post's); the bot is called in later
        thread_id = int(starter["id"])
        server.discord.channels[thread_id] = {
            "id": starter["id"],
            "type": 11,
            "guild_id": str(server.guild.id),
            "parent_id": str(server.general),
            "owner_id": str(server.bob.id),
            "name": "side topic",
            "message_count": 0,
            "member_count": 2,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": starter["timestamp"],
                "locked": False,
            },
        }
        await server.discord.send_message(thread_id, server.bob, "no mention yet")
        await server.ask("can you help?", channel=thread_id)
        await server.wait_for_answer(thread_id, "Answer.")

    [request] = server.dify.chat_requests
    assert (
        request["query"] == "Earlier in this thread:\nBob: no mention yet\n\nAlice: can you help?"
    )
    assert request["user"] == f"discord:{server.guild.id}:{thread_id}"
    assert not server.discord.requests("POST", "/threads$"), "no thread inside a thread"


async def test_a_follow_up_while_the_first_answer_is_pending_is_answered_next(
    server: Server,
) -> None:
    server.dify.script("First, slowly.", delay=0.3)
    server.dify.script("Then the follow-up.")
    async with server.bot():
        thread_id = int((await server.ask("slow question"))["id"])
        await server.discord.wait_until(lambda: bool(server.discord.threads()), what="the thread")
        await server.discord.send_message(thread_id, server.alice, "quick follow-up")
        await server.wait_for_answer(thread_id, "First, slowly.")
        await server.wait_for_answer(thread_id, "Then the follow-up.", count=2)

    [conversation] = server.dify.conversations.values()
    _, second = server.dify.chat_requests
    assert second["query"] == "Alice: quick follow-up"
    assert second["conversation_id"] == conversation.id, "the same conversation, after turn one"


async def test_a_dropped_connection_on_the_final_edit_is_tried_again(server: Server) -> None:
    server.dify.script("The whole answer.")
    # the final edit brings the rating buttons; its connection drops once
    server.discord.drop_next("PATCH", r"^/channels/\d+/messages/", holding="dify_feedback")
    async with server.bot():
        thread_id = int((await server.ask("hello"))["id"])
        await server.discord.wait_until(
            lambda: any(
                "dify_feedback" in str(b)
                for m in server.discord.channel_messages(thread_id)
                for b in server.discord.buttons(m)
            ),
            timeout=15,
            what="the rating buttons",
        )

    assert server.discord.contents(thread_id) == ["The whole answer."]
    assert not server.discord.drops, "the final edit's connection was dropped"
