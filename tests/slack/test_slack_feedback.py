"""👍 / 👎 on the bot's answers become Dify feedback from the thread's Dify user."""

from __future__ import annotations

from typing import Any

from tests.fakes.dify import FakeDify
from tests.slack.conftest import SlackBot, eventually


def feedbacks(dify: FakeDify, message_id: str) -> list[dict[str, Any]]:
    return [r.json for r in dify.requests_to(f"/messages/{message_id}/feedbacks") if r.json]


async def test_thumbs_rate_the_answer_and_removing_them_revokes(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    ts = await slack_bot.ask("C1", "rate me")
    (answer,) = slack.thread("C1", ts)
    (message,) = dify.messages.values()

    await slack_bot.send(slack.reaction_event("C1", answer.ts, "+1::skin-tone-3"))
    await eventually(lambda: message.rating == "like")
    await slack_bot.send(slack.reaction_event("C1", answer.ts, "+1::skin-tone-3", added=False))
    await eventually(lambda: message.rating is None and len(feedbacks(dify, message.id)) == 2)
    await slack_bot.send(slack.reaction_event("C1", answer.ts, "thumbsdown", user="U2"))
    await eventually(lambda: message.rating == "dislike")

    users = {body["user"] for body in feedbacks(dify, message.id)}
    assert users == {f"slack:{slack.team_id}:C1:{ts}"}, "feedback must come from the thread's user"


async def test_a_reaction_on_the_second_part_of_a_long_answer_rates_it(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script("\n\n".join(f"Part {n}. " + "words and more words " * 40 for n in range(8)))
    ts = await slack_bot.ask("C1", "a long one please")
    first, second, *_ = slack.thread("C1", ts)
    (message,) = dify.messages.values()

    await slack_bot.send(slack.reaction_event("C1", second.ts, "thumbsup"))

    await eventually(lambda: message.rating == "like")
    assert first.ts != second.ts


async def test_other_reactions_and_reactions_on_other_messages_are_ignored(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    ts = await slack_bot.ask("C1", "hello")
    (answer,) = slack.thread("C1", ts)
    (message,) = dify.messages.values()

    slack.users["U8"] = "Autoreact"
    slack.bot_users.add("U8")
    await slack_bot.send(slack.reaction_event("C1", answer.ts, "tada"))
    await slack_bot.send(slack.reaction_event("C1", ts, "+1"))  # the user's own question
    await slack_bot.send(slack.reaction_event("C1", answer.ts, "+1", user="U8"))  # a bot
    await slack_bot.send(slack.reaction_event("C1", answer.ts, "-1"))

    await eventually(lambda: message.rating == "dislike")
    assert len(feedbacks(dify, message.id)) == 1
