"""A Slack user's conversations with the bot, end to end through the real engine."""

from __future__ import annotations

from pathlib import Path

from dify_bridge.adapters.slack.format import markdown_to_mrkdwn
from dify_bridge.adapters.slack.sink import MAX_MESSAGE_CHARS, THINKING_REACTION
from dify_bridge.core import notices
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, running_slack_bot

ANSWER = (
    "Our office opens at nine and closes at five on weekdays, "
    "and the front desk can help with anything else you need."
)


async def test_a_mention_is_answered_in_a_thread_with_a_streamed_reply(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script(ANSWER, delay=0.12)

    ts = await slack_bot.ask("C1", "when is the office open?")

    assert slack.thread_texts("C1", ts) == [ANSWER]
    assert slack.thread_texts("C1", None) == [], "the answer must not go to the channel"
    assert slack.calls_to("chat.update"), "the answer should grow by edits while it streams"
    post = slack.calls_to("chat.postMessage")[0]
    assert post.args["thread_ts"] == ts
    assert str(post.args.get("unfurl_links")).lower() in ("false", "0")
    assert slack.reactions_on("C1", ts) == {}, "the hourglass should be gone after the answer"
    assert [c.args["name"] for c in slack.calls_to("reactions.add")] == [THINKING_REACTION]
    request = dify.chat_requests[-1]
    assert request["query"] == "Alice: when is the office open?"
    assert request["user"] == f"slack:{slack.team_id}:C1:{ts}"


async def test_a_follow_up_in_the_thread_needs_no_mention(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    root = await slack_bot.ask("C1", "my name is Sam")
    first = dify.chat_requests[-1]

    await slack_bot.reply("C1", root, "what is my name?", user="U2")

    second = dify.chat_requests[-1]
    (conversation,) = dify.conversations.values()
    assert second["conversation_id"] == conversation.id
    assert [q for q, _, _ in conversation.turns] == [
        "Alice: my name is Sam",
        "Bob: what is my name?",
    ]
    assert second["user"] == first["user"], "one thread talks to Dify as one user"
    assert len(slack.thread_texts("C1", root)) == 2


async def test_messages_in_threads_the_bot_is_not_in_are_left_alone(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    top = slack.user_message("C1", "just chatting with colleagues")
    await slack_bot.send(top)
    reply = slack.user_message("C1", "me too", thread_ts=top["ts"])
    await slack_bot.send(reply)
    mention = await slack_bot.ask("C1", "now you")

    assert len(dify.chat_requests) == 1
    assert dify.chat_requests[0]["query"] == "Alice: now you"
    assert slack.thread_texts("C1", top["ts"]) == []
    assert slack.thread_texts("C1", mention)


async def test_a_dm_is_one_conversation_answered_at_top_level(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    for text in ("hello", "and again"):
        event = slack.user_message("D1", text, channel_type="im")
        await slack_bot.send(event)
        await slack_bot.answered("D1", event["ts"])

    first, second = dify.chat_requests
    assert first["query"] == "hello", "no speaker name in a private chat"
    assert second["conversation_id"] and second["user"] == f"slack:{slack.team_id}:D1:dm"
    assert len(slack.thread_texts("D1", None)) == 2


async def test_a_restart_keeps_the_thread_conversation(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    db = tmp_path / "bridge.db"
    async with running_slack_bot(fake_slack, fake_dify, db) as bot:
        root = await bot.ask("C1", "remember the number 7")
    (conversation_id,) = fake_dify.conversations

    async with running_slack_bot(fake_slack, fake_dify, db) as bot:
        await bot.reply("C1", root, "which number?")

    before, after = fake_dify.chat_requests
    assert after["conversation_id"] == conversation_id, "the restarted bot forgot the thread"
    assert after["user"] == before["user"]
    assert len(fake_slack.thread_texts("C1", root)) == 2


async def test_a_lost_conversation_is_replaced_and_the_user_is_told(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    root = await slack_bot.ask("C1", "first question")
    (old_id,) = dify.conversations
    dify.delete_conversation(old_id)
    dify.script(ANSWER)

    await slack_bot.reply("C1", root, "second question")

    texts = slack.thread_texts("C1", root)
    assert texts[-1] == markdown_to_mrkdwn(notices.LOST_CONTEXT + "\n\n" + ANSWER)
    (new_id,) = dify.conversations
    assert new_id != old_id
    await slack_bot.reply("C1", root, "third question")
    assert dify.chat_requests[-1]["conversation_id"] == new_id


async def test_a_long_answer_continues_in_new_messages(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    paragraphs = [f"Paragraph {n}: " + "lorem ipsum dolor sit amet " * 30 for n in range(12)]
    answer = "\n\n".join(p.strip() for p in paragraphs)
    dify.script(answer)

    ts = await slack_bot.ask("C1", "tell me everything")

    texts = slack.thread_texts("C1", ts)
    assert len(texts) == 3
    assert all(len(t) <= MAX_MESSAGE_CHARS for t in texts)
    assert " ".join(" ".join(texts).split()) == " ".join(answer.split())
    assert not [c for c in slack.calls if not c.ok], "no Slack call should have failed"


async def test_answers_cannot_ping_anyone_but_links_still_work(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.script("Hey <!channel> and <@U2> & **friends**: see [the docs](https://ex.test/a?b=1&c=2)")

    ts = await slack_bot.ask("C1", "say something risky")

    (text,) = slack.thread_texts("C1", ts)
    assert "<!channel>" not in text and "<@U2>" not in text
    assert "&lt;!channel&gt;" in text and "&lt;@U2&gt;" in text and " &amp; " in text
    assert "*friends*" in text
    assert "<https://ex.test/a?b=1&amp;c=2|the docs>" in text


async def test_routes_send_a_channel_or_a_workspace_to_its_own_app(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    fake_dify.api_keys |= {"app-sales", "app-team"}
    routes = tmp_path / "routes.toml"
    routes.write_text(
        f"""
[[routes]]
name = "sales"
slack_channels = ["C7"]
api_url = "{fake_dify.url}"
api_key = "app-sales"

[[routes]]
name = "team"
slack_teams = ["{fake_slack.team_id}"]
api_url = "{fake_dify.url}"
api_key = "app-team"
""",
        encoding="utf-8",
    )
    async with running_slack_bot(
        fake_slack, fake_dify, tmp_path / "bridge.db", DIFY_ROUTES_FILE=str(routes)
    ) as bot:
        await bot.ask("C7", "sales question")
        await bot.ask("C1", "anything else")

    keys = [r.headers.get("Authorization") for r in fake_dify.requests_to("/chat-messages")]
    assert keys == ["Bearer app-sales", "Bearer app-team"]


async def test_speaker_names_are_looked_up_once(slack_bot: SlackBot):
    slack = slack_bot.slack
    root = await slack_bot.ask("C1", "one")
    await slack_bot.reply("C1", root, "two")
    await slack_bot.reply("C1", root, "three")

    assert [c.args["user"] for c in slack.calls_to("users.info")] == ["U1"]
    assert [r["query"] for r in slack_bot.dify.chat_requests][-1] == "Alice: three"


async def test_a_follow_up_sent_before_dify_answered_the_mention_is_not_lost(
    slack_bot: SlackBot,
):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.fail_next(429, "too_many_requests", retry_after=0.5)  # Dify is slow to start
    mention = slack.user_message("C1", "first", mention=True, event_type="app_mention")
    await slack_bot.send(mention)
    follow_up = slack.user_message("C1", "and second", thread_ts=mention["ts"])
    await slack_bot.send(follow_up)

    await slack_bot.answered("C1", follow_up["ts"])

    queries = [r["query"] for r in dify.chat_requests]  # the refused first try included
    assert queries == ["Alice: first", "Alice: first", "Alice: and second"]
    assert len(slack.thread_texts("C1", mention["ts"])) == 2
