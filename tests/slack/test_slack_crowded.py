"""A crowded workspace: answers whose edits would come too rarely grow by new messages.

Slack rations ``chat.update`` per workspace but ``chat.postMessage`` per
channel, so when the edit budget shared out over the live answers would
refresh each of them less than every few seconds, an answer that has not
posted yet grows by final pieces instead of edits.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from dify_bridge.adapters.slack.format import markdown_to_mrkdwn
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, running_slack_bot

PARAGRAPHS = [
    "First, the short version: the release goes out on Thursday after the review.",
    "Second, the longer story. " + " ".join(f"detail{i}" for i in range(30)) + ".",
    "Third, what is left: " + ", ".join(f"item{i}" for i in range(25)) + ".",
]
ANSWER = "\n\n".join(PARAGRAPHS)
CROWDED = {"SLACK_STREAMING": "edits", "SLACK_EDITS_PER_MINUTE": "6"}
"""One edit every 10 s for the workspace: too rare even for a single answer."""


def same_words(shown: list[str], markdown: str) -> bool:
    return " ".join(shown).split() == markdown_to_mrkdwn(markdown).split()


def stop_buttons(slack: FakeSlack, channel: str, ts: str) -> list[str]:
    return [
        str(b.get("action_id"))
        for m in slack.thread(channel, ts)
        for b in m.buttons()
        if "stop" in str(b.get("action_id"))
    ]


async def test_an_answer_in_a_crowded_workspace_grows_by_whole_pieces(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    fake_dify.script(ANSWER, delay=0.03)
    async with running_slack_bot(fake_slack, fake_dify, tmp_path / "bridge.db", **CROWDED) as bot:
        ts = await bot.ask("C1", "when is the release?")

    shown = [text.strip() for text in fake_slack.thread_texts("C1", ts)]
    assert len(shown) >= 2, shown
    assert same_words(shown, ANSWER), "together the pieces are the answer, each word once"
    assert shown[0] == markdown_to_mrkdwn(PARAGRAPHS[0]), "a piece ends where a paragraph does"
    assert not fake_slack.calls_to("chat.update"), "a piece is final: nothing is edited"
    messages = fake_slack.thread("C1", ts)
    assert [bool(m.buttons()) for m in messages] == [False] * (len(messages) - 1) + [True]
    assert not stop_buttons(fake_slack, "C1", ts)


async def test_moderation_replacing_a_grown_answer_shows_only_the_replacement(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    replacement = "This answer was withheld by the app's moderation."
    fake_dify.script(ANSWER, delay=0.03, replace_with=replacement)
    async with running_slack_bot(fake_slack, fake_dify, tmp_path / "bridge.db", **CROWDED) as bot:
        ts = await bot.ask("C1", "tell me")

    visible = [t for t in fake_slack.thread_texts("C1", ts) if t.strip() != "…"]
    assert visible == [markdown_to_mrkdwn(replacement)]
    assert "detail3" not in " ".join(fake_slack.thread_texts("C1", ts))


async def answer_all(bot: SlackBot, channels: list[str]) -> list[str]:
    events = [
        bot.slack.user_message(c, f"question {c}", mention=True, event_type="app_mention")
        for c in channels
    ]
    await asyncio.gather(*(bot.send(event) for event in events))
    for event in events:
        await bot.answered(event["channel"], event["ts"])
    return [str(event["ts"]) for event in events]


async def test_many_answers_at_once_all_complete_without_a_stop_button_left(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    channels = [f"C{n}" for n in range(12)]
    for n in range(len(channels)):
        fake_dify.script(f"Answer {n}. " + ANSWER, delay=0.02)
    # 30 edits a minute: the first two answers edit, the rest would wait too long
    async with running_slack_bot(
        fake_slack,
        fake_dify,
        tmp_path / "bridge.db",
        SLACK_STREAMING="edits",
        SLACK_EDITS_PER_MINUTE="30",
    ) as bot:
        stamps = await answer_all(bot, channels)

    grown = 0
    for n, request in enumerate(fake_dify.chat_requests):
        channel = str(request["query"]).rsplit(" ", 1)[-1]
        ts = stamps[channels.index(channel)]
        shown = [text.strip() for text in fake_slack.thread_texts(channel, ts)]
        assert same_words(shown, f"Answer {n}. " + ANSWER), channel
        assert not stop_buttons(fake_slack, channel, ts), channel
        assert fake_slack.thread(channel, ts)[-1].buttons(), channel
        grown += len(shown) > 1
    assert grown >= len(channels) - 3, "the answers that could not be edited often grew"
    assert len(fake_slack.calls_to("chat.update")) < len(channels)
    assert not [c for c in fake_slack.calls if c.status == 429]


async def test_pieces_in_one_channel_keep_to_its_posting_pace(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    # Slack: about one message a second per channel; three in three seconds at most
    fake_slack.rate_limit("chat.postMessage", calls=3, window=3.0)
    for n in range(4):
        fake_dify.script(f"Answer {n}. " + ANSWER, delay=0.02)
    async with running_slack_bot(fake_slack, fake_dify, tmp_path / "bridge.db", **CROWDED) as bot:
        events = [
            fake_slack.user_message("C1", f"question {n}", mention=True, event_type="app_mention")
            for n in range(4)
        ]
        await asyncio.gather(*(bot.send(event) for event in events))
        for event in events:
            await bot.answered("C1", event["ts"])

    posts = fake_slack.calls_to("chat.postMessage")
    assert len([c for c in posts if c.ok]) >= 8, "four answers, at least two pieces each"
    assert not [c for c in posts if c.status == 429]
    for event in events:
        assert fake_slack.thread("C1", event["ts"])[-1].buttons()
