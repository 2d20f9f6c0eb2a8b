"""Reactions become Dify feedback; long answers split; bots and system messages are ignored."""

from __future__ import annotations

from typing import Any

from tests.discord.conftest import Server


def _feedbacks(server: Server) -> list[tuple[str, Any]]:
    """``(dify message id, body)`` of every feedback request Dify received."""
    return [
        (r.path.split("/")[3], r.json)
        for r in server.dify.requests
        if r.method == "POST" and r.path.endswith("/feedbacks")
    ]


async def test_thumbs_up_and_down_become_feedback_as_the_threads_user(server: Server) -> None:
    server.dify.script("Rate me.")
    async with server.bot(DISCORD_REACTION_HINTS="true"):
        thread_id = int((await server.ask("question"))["id"])
        await server.wait_for_answer(thread_id, "Rate me.")
        [answer] = server.discord.channel_messages(thread_id)
        await server.discord.wait_until(
            lambda: len(server.discord.reactions.get(int(answer["id"]), {})) == 2,
            what="the 👍/👎 hints under the answer",
        )
        await server.discord.add_reaction(answer, server.alice, "👍")
        await server.dify.wait_until(lambda: len(_feedbacks(server)) == 1)
        await server.discord.add_reaction(answer, server.bob, "👎🏽")
        await server.dify.wait_until(lambda: len(_feedbacks(server)) == 2)
        await server.discord.remove_reaction(answer, server.bob, "👎🏽")
        await server.dify.wait_until(lambda: len(_feedbacks(server)) == 3)
        await server.discord.add_reaction(answer, server.alice, "🎉")  # not feedback
        robot = server.discord.add_user("autoreact", guild=server.guild, bot=True)
        await server.discord.add_reaction(answer, robot, "👍")  # a bot is nobody's feedback
        await server.discord.add_reaction(answer, server.alice, "👍")
        await server.dify.wait_until(lambda: len(_feedbacks(server)) == 4)

    [message] = server.dify.messages.values()
    thread_user = f"discord:{server.guild.id}:{thread_id}"
    assert _feedbacks(server) == [
        (message.id, {"rating": "like", "user": thread_user}),
        (message.id, {"rating": "dislike", "user": thread_user}),
        (message.id, {"rating": None, "user": thread_user}),
        (message.id, {"rating": "like", "user": thread_user}),
    ], "the bot's own 👍/👎 hints, another bot's 👍 and other emoji sent nothing"
    hints = server.discord.requests("PUT", "/reactions/")
    assert [c.path.split("/")[-2] for c in hints] == ["👍", "👎"]


async def test_a_long_answer_continues_in_messages_under_2000_characters(server: Server) -> None:
    paragraph = "Discord allows two thousand characters per message, so this continues. "
    answer = "\n\n".join(paragraph * 12 for _ in range(5)).strip()
    assert len(answer) > 4000
    server.dify.script(answer)
    async with server.bot():
        thread_id = int((await server.ask("tell me everything"))["id"])

        def complete() -> bool:
            return " ".join(server.discord.contents(thread_id)).split() == answer.split()

        await server.discord.wait_until(complete, timeout=15, what="the whole long answer")

    parts = server.discord.contents(thread_id)
    assert len(parts) == 3
    assert all(len(part) <= 2000 for part in parts)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts), "split between words"


async def test_bots_own_messages_and_system_messages_are_not_answered(server: Server) -> None:
    other_bot = server.discord.add_user("helperbot", guild=server.guild, bot=True)
    server.dify.script("Only for Alice.")
    async with server.bot():
        await server.discord.send_message(server.general, other_bot, "hey", mention_bot=True)
        await server.discord.send_message(
            server.general, server.alice, "joined", mention_bot=True, message_type=7
        )
        thread_id = int((await server.ask("a real question"))["id"])
        await server.wait_for_answer(thread_id, "Only for Alice.")

    assert [r["query"] for r in server.dify.chat_requests] == ["Alice: a real question"]
    assert len(server.discord.threads()) == 1
    # the bot's own posts came back as MESSAGE_CREATE events too, and were ignored


async def test_answers_never_ping_anyone(server: Server) -> None:
    server.dify.script(f"Hey @everyone and @here, ask <@{server.bob.id}> or <@&{server.guild.id}>")
    async with server.bot():
        thread_id = int((await server.ask("ping people"))["id"])

        def final_text_shown() -> bool:
            texts = server.discord.contents(thread_id)
            return bool(texts) and texts[-1].endswith(f"{server.guild.id}>")

        await server.discord.wait_until(final_text_shown, what="the whole answer")

    [text] = server.discord.contents(thread_id)
    assert "@everyone" not in text and "@here" not in text
    assert f"<@{server.bob.id}>" not in text and f"<@&{server.guild.id}>" not in text
    assert "everyone" in text and str(server.bob.id) in text, "the words stay readable"


async def test_a_429_from_discord_is_waited_out_and_the_answer_completes(server: Server) -> None:
    server.discord.rate_limit("POST", r"^/channels/\d+/messages$", retry_after=0.3)
    server.dify.script("Worth the wait.")
    async with server.bot():
        thread_id = int((await server.ask("hurry"))["id"])
        await server.wait_for_answer(thread_id, "Worth the wait.")
    assert len(server.discord.ratelimited) == 1
    assert server.discord.contents(thread_id) == ["Worth the wait."]
