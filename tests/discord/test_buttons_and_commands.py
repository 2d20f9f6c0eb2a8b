"""Buttons under answers (Stop, 👍/👎, suggested questions), 🛑, and the /new and /status commands."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.discord.conftest import Server
from tests.fakes.discord import EPHEMERAL_FLAG, FakeDiscord

SLOW_ANSWER = [f"word{n} " for n in range(40)]


def _custom_ids(discord: FakeDiscord, message: dict[str, Any]) -> list[str]:
    return [b["custom_id"] for b in discord.buttons(message)]


def _feedbacks(server: Server) -> list[tuple[str, Any]]:
    return [
        (r.path.split("/")[3], r.json)
        for r in server.dify.requests
        if r.method == "POST" and r.path.endswith("/feedbacks")
    ]


async def _streaming_answer(server: Server, thread_id: int) -> dict[str, Any]:
    """The bot's first message in the thread, once it shows the Stop button."""

    def has_stop() -> bool:
        messages = [m for m in server.discord.channel_messages(thread_id)]
        return bool(messages) and "dify_stop" in _custom_ids(server.discord, messages[0])

    await server.discord.wait_until(has_stop, what="the Stop button under the streaming answer")
    return server.discord.channel_messages(thread_id)[0]


async def test_stop_button_stops_the_answer_and_leaves_feedback_buttons(server: Server) -> None:
    server.dify.script(SLOW_ANSWER, delay=0.2)
    async with server.bot():
        thread_id = int((await server.ask("count slowly"))["id"])
        answer = await _streaming_answer(server, thread_id)
        interaction = await server.discord.click(answer, server.alice, "dify_stop")

        await server.discord.wait_until(
            lambda: server.discord.contents(thread_id)[-1].endswith("_(Stopped.)_"),
            what="the answer marked stopped",
        )
        await server.dify.wait_until(lambda: len(server.dify.stops) == 1)

    callback = server.discord.callback_for(interaction)
    assert callback is not None and callback.type == 6, "a click is acknowledged (deferred update)"
    thread_user = f"discord:{server.guild.id}:{thread_id}"
    assert server.dify.stops[0][1] == thread_user, "Dify is told to stop as the thread's user"
    [text] = server.discord.contents(thread_id)
    assert "word39" not in text, "the answer did not run to its end"
    final = server.discord.channel_messages(thread_id)[0]
    assert _custom_ids(server.discord, final) == ["dify_feedback:like", "dify_feedback:dislike"]


async def test_a_stop_reaction_stops_the_answer(server: Server) -> None:
    server.dify.script(SLOW_ANSWER, delay=0.2)
    async with server.bot():
        thread_id = int((await server.ask("count slowly"))["id"])
        answer = await _streaming_answer(server, thread_id)
        await server.discord.add_reaction(answer, server.alice, "🛑")
        await server.discord.wait_until(
            lambda: server.discord.contents(thread_id)[-1].endswith("_(Stopped.)_"),
            what="the answer marked stopped",
        )
    assert len(server.dify.stops) == 1


async def test_feedback_buttons_rate_the_answer_as_the_threads_user(server: Server) -> None:
    server.dify.script("Rate me with a button.")
    async with server.bot():
        thread_id = int((await server.ask("question"))["id"])
        await server.wait_for_answer(thread_id, "Rate me with a button.")
        [answer] = server.discord.channel_messages(thread_id)
        await server.discord.wait_until(
            lambda: "dify_feedback:like" in _custom_ids(server.discord, answer),
            what="the feedback buttons",
        )
        like = await server.discord.click(answer, server.alice, "dify_feedback:like")
        await server.dify.wait_until(lambda: len(_feedbacks(server)) == 1)
        dislike = await server.discord.click(answer, server.bob, "dify_feedback:dislike")
        await server.dify.wait_until(lambda: len(_feedbacks(server)) == 2)

    [message] = server.dify.messages.values()
    thread_user = f"discord:{server.guild.id}:{thread_id}"
    assert _feedbacks(server) == [
        (message.id, {"rating": "like", "user": thread_user}),
        (message.id, {"rating": "dislike", "user": thread_user}),
    ]
    for interaction in (like, dislike):
        callback = server.discord.callback_for(interaction)
        assert callback is not None and callback.type == 6
    buttons = server.discord.buttons(answer)
    assert [b.get("emoji", {}).get("name") for b in buttons] == ["👍", "👎"]


async def test_a_suggested_question_button_asks_it_in_the_same_conversation(
    server: Server,
) -> None:
    long_question = "Could you walk me through " + "every single step " * 8 + "in detail?"
    server.dify.parameters["suggested_questions_after_answer"] = {"enabled": True}
    server.dify.suggested_questions = ["Can you give me an example?", long_question]
    server.dify.script("Here is the idea.")
    server.dify.script("Here is an example.")
    async with server.bot():
        thread_id = int((await server.ask("explain the idea"))["id"])
        await server.wait_for_answer(thread_id, "Here is the idea.")
        first = server.discord.channel_messages(thread_id)[0]
        await server.discord.wait_until(
            lambda: len(server.discord.buttons(first)) == 4, what="feedback and suggestion buttons"
        )
        buttons = server.discord.buttons(first)
        assert [b["label"] for b in buttons[2:]] == [
            "Can you give me an example?",
            long_question[:79] + "…",
        ]
        assert all(len(b["custom_id"]) <= 100 for b in buttons)
        assert buttons[3]["custom_id"] == "dify_suggested:" + long_question[:85]

        # the button id holds 85 characters; the whole question is asked
        interaction = await server.discord.click(first, server.bob, buttons[3]["custom_id"])
        await server.wait_for_answer(thread_id, "Here is an example.", count=3)

    callback = server.discord.callback_for(interaction)
    assert callback is not None and callback.type == 6
    assert server.discord.contents(thread_id)[1] == f"💬 **Bob** asked: {long_question}"
    first_turn, second_turn = server.dify.chat_requests
    assert second_turn["query"] == f"Bob: {long_question}", "asked whole, as the clicker"
    assert second_turn["conversation_id"] == first_turn_conversation(server)
    assert second_turn["user"] == first_turn["user"] == f"discord:{server.guild.id}:{thread_id}"


async def test_a_second_click_by_the_same_person_on_a_suggestion_is_ignored(
    server: Server,
) -> None:
    server.dify.parameters["suggested_questions_after_answer"] = {"enabled": True}
    server.dify.suggested_questions = ["Why?"]
    for answer in ("Because.", "Since.", "As said."):
        server.dify.script(answer)
    async with server.bot():
        thread_id = int((await server.ask("explain"))["id"])
        await server.wait_for_answer(thread_id, "Because.")
        first = server.discord.channel_messages(thread_id)[0]
        await server.discord.wait_until(
            lambda: len(server.discord.buttons(first)) == 3, what="the suggestion button"
        )
        await server.discord.click(first, server.bob, "dify_suggested:Why?")
        await server.wait_for_answer(thread_id, "Since.", count=3)
        again = await server.discord.click(first, server.bob, "dify_suggested:Why?")
        await server.discord.wait_until(
            lambda: server.discord.callback_for(again) is not None, what="the repeat acknowledged"
        )
        await server.discord.click(first, server.alice, "dify_suggested:Why?")
        await server.wait_for_answer(thread_id, "As said.", count=5)

    assert server.discord.contents(thread_id)[1::2] == [
        "💬 **Bob** asked: Why?",
        "💬 **Alice** asked: Why?",
    ]
    assert [r["query"] for r in server.dify.chat_requests] == [
        "Alice: explain",
        "Bob: Why?",
        "Alice: Why?",
    ], "Bob's repeat click asked nothing; Alice's own click did"


def first_turn_conversation(server: Server) -> str:
    [conversation] = server.dify.conversations.values()
    return conversation.id


async def test_slash_commands_are_registered_at_start(server: Server) -> None:
    async with server.bot():
        pass
    assert server.discord.commands is not None
    assert [c["name"] for c in server.discord.commands] == ["new", "status"]
    [call] = server.discord.requests("PUT", rf"^/applications/{server.discord.application_id}/")
    assert all(c["description"] for c in call.json)
    assert all(c["contexts"] == [0, 1] for c in call.json), "in servers and the bot's DMs"
    assert all(c["integration_types"] == [0] for c in call.json), "guild install"


async def test_new_in_a_dm_starts_a_fresh_conversation(server: Server) -> None:
    dm = server.discord.open_dm(server.alice)
    server.dify.script("First answer.")
    server.dify.script("Fresh answer.")
    async with server.bot():
        await server.discord.send_message(dm, server.alice, "remember the number 7")
        await server.wait_for_answer(dm, "First answer.")
        interaction = await server.discord.run_command(dm, server.alice, "new")
        await server.discord.wait_until(
            lambda: server.discord.reply_for(interaction) is not None, what="the /new reply"
        )
        await server.discord.send_message(dm, server.alice, "what was the number?")
        await server.wait_for_answer(dm, "Fresh answer.", count=2)

    first, second = server.dify.chat_requests
    assert first["conversation_id"] == "" and second["conversation_id"] == ""
    assert len(server.dify.conversations) == 2
    callback = server.discord.callback_for(interaction)
    assert callback is not None and callback.type == 5, "deferred at once (Discord's 3 s)"
    reply = server.discord.reply_for(interaction)
    assert reply is not None and "next message" in reply["content"]
    assert reply["flags"] & EPHEMERAL_FLAG


async def test_new_in_a_guild_channel_explains_threads(server: Server) -> None:
    async with server.bot():
        interaction = await server.discord.run_command(server.general, server.alice, "new")
        await server.discord.wait_until(
            lambda: server.discord.reply_for(interaction) is not None, what="the /new reply"
        )
    reply = server.discord.reply_for(interaction)
    assert reply is not None and "mention of me" in reply["content"]
    assert not server.dify.chat_requests


async def test_status_shows_the_conversation_and_the_app(server: Server) -> None:
    server.dify.script("Hello.")
    async with server.bot():
        before = await server.discord.run_command(server.general, server.alice, "status")
        thread_id = int((await server.ask("hi"))["id"])
        await server.wait_for_answer(thread_id, "Hello.")
        after = await server.discord.run_command(thread_id, server.alice, "status")
        await server.discord.wait_until(
            lambda: None not in (server.discord.reply_for(before), server.discord.reply_for(after)),
            what="both /status replies",
        )

    [conversation] = server.dify.conversations.values()
    empty, mapped = server.discord.reply_for(before), server.discord.reply_for(after)
    assert empty is not None and "No conversation here yet" in empty["content"]
    assert mapped is not None and conversation.id in mapped["content"]
    assert "Demo Assistant" in mapped["content"], "the app's name from Dify"
    assert mapped["flags"] & EPHEMERAL_FLAG, "only the asker sees it"


async def test_forged_button_ids_are_acknowledged_ignored_and_logged_once(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.dify.script("Rate me.")
    server.dify.script("Still here.")
    async with server.bot():
        thread_id = int((await server.ask("question"))["id"])
        await server.wait_for_answer(thread_id, "Rate me.")
        [answer] = server.discord.channel_messages(thread_id)
        for custom_id in ("dify_feedback:bogus", "dify_suggested:  ", "not_ours", "é" * 100):
            caplog.clear()
            interaction = await server.discord.click_forged(answer, server.alice, custom_id)
            await server.discord.wait_until(
                lambda i=interaction: server.discord.callback_for(i) is not None,
                what="the forged click acknowledged",
            )
            lines = [r for r in caplog.records if r.name.startswith("dify_bridge.adapters")]
            assert [r.levelno for r in lines] == [logging.INFO], [r.getMessage() for r in lines]
            assert not any(r.exc_info for r in caplog.records)
        assert _feedbacks(server) == []
        await server.discord.send_message(thread_id, server.alice, "and now?")
        await server.wait_for_answer(thread_id, "Still here.", count=2)
