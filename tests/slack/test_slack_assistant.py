"""Slack's assistant threads: greeting without a chat request, routing by context, status, title."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import SlackBot, eventually, running_slack_bot


def started(slack: FakeSlack, *, from_channel: str = "C7") -> dict[str, Any]:
    thread_ts = slack.next_ts()
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": "U1",
            "context": {"channel_id": from_channel, "team_id": slack.team_id},
            "channel_id": "D1",
            "thread_ts": thread_ts,
        },
        "event_ts": thread_ts,
    }


async def ask_in(bot: SlackBot, thread_ts: str, text: str) -> dict[str, Any]:
    slack = bot.slack

    def answers() -> int:
        return sum(1 for m in slack.thread("D1", thread_ts) if not m.streaming)

    before = answers()  # a question asked earlier in the thread was answered already
    event = slack.user_message("D1", text, thread_ts=thread_ts, channel_type="im")
    await bot.send(event)
    await slack.wait_until(
        lambda: (
            bool(slack.statuses("D1", thread_ts))
            and slack.statuses("D1", thread_ts)[-1] == ""
            and answers() > before
        )
    )
    return event


async def test_a_new_assistant_thread_is_greeted_without_asking_dify(slack_bot: SlackBot):
    slack, dify = slack_bot.slack, slack_bot.dify
    dify.parameters["opening_statement"] = "Hi, I answer HR questions."
    dify.parameters["suggested_questions"] = [f"Question {n}?" for n in range(6)]
    event = started(slack)

    await slack_bot.send(event)
    thread_ts = event["assistant_thread"]["thread_ts"]
    await slack.wait_until(lambda: bool(slack.suggested_prompts("D1", thread_ts)))

    assert slack.thread_texts("D1", thread_ts) == ["Hi, I answer HR questions."]
    prompts = slack.suggested_prompts("D1", thread_ts)
    assert [p["message"] for p in prompts] == [f"Question {n}?" for n in range(4)]
    assert dify.chat_requests == []


async def test_an_assistant_thread_streams_with_a_status_and_gets_a_title(slack_bot: SlackBot):
    slack = slack_bot.slack
    event = started(slack)
    await slack_bot.send(event)
    thread_ts = event["assistant_thread"]["thread_ts"]

    await ask_in(slack_bot, thread_ts, "How many vacation days do I have?")

    statuses = slack.statuses("D1", thread_ts)
    assert statuses[0] == "is thinking…" and statuses[-1] == ""
    (start,) = slack.calls_to("chat.startStream")
    assert start.args["thread_ts"] == thread_ts and "recipient_user_id" not in start.args
    assert slack.title("D1", thread_ts) == "How many vacation days do I have?"
    assert not slack.calls_to("reactions.add"), "the status line replaces the hourglass"


def sales_in_c7(fake_dify: FakeDify, tmp_path: Path) -> Path:
    """A routes file: channel C7 talks to the app ``app-sales``."""
    fake_dify.api_keys |= {"app-sales"}
    routes = tmp_path / "routes.toml"
    routes.write_text(
        f"""
[[routes]]
name = "sales"
slack_channels = ["C7"]
api_url = "{fake_dify.url}"
api_key = "app-sales"
""",
        encoding="utf-8",
    )
    return routes


async def test_an_assistant_thread_talks_to_the_app_of_the_channel_it_was_opened_from(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    routes = sales_in_c7(fake_dify, tmp_path)
    async with running_slack_bot(
        fake_slack, fake_dify, tmp_path / "bridge.db", DIFY_ROUTES_FILE=str(routes)
    ) as bot:
        event = started(fake_slack, from_channel="C7")
        await bot.send(event)
        thread_ts = event["assistant_thread"]["thread_ts"]
        await ask_in(bot, thread_ts, "a sales question")
        changed = dict(event, type="assistant_thread_context_changed")
        changed["assistant_thread"] = dict(event["assistant_thread"], context={"channel_id": "C1"})
        await bot.send(changed)
        await ask_in(bot, thread_ts, "still sales?")

    keys = [r.headers.get("Authorization") for r in fake_dify.requests_to("/chat-messages")]
    assert keys == ["Bearer app-sales", "Bearer app-sales"], "the thread keeps its app"


async def test_an_assistant_threads_app_survives_a_restart_before_its_first_question(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    routes = sales_in_c7(fake_dify, tmp_path)
    fake_dify.parameters["opening_statement"] = "Hi from sales."
    db = tmp_path / "bridge.db"
    event = started(fake_slack, from_channel="C7")
    thread_ts = event["assistant_thread"]["thread_ts"]
    async with running_slack_bot(fake_slack, fake_dify, db, DIFY_ROUTES_FILE=str(routes)) as bot:
        await bot.send(event)
        # the greeting comes after the route is kept
        await fake_slack.wait_until(lambda: bool(fake_slack.thread_texts("D1", thread_ts)))

    async with running_slack_bot(fake_slack, fake_dify, db, DIFY_ROUTES_FILE=str(routes)) as bot:
        await ask_in(bot, thread_ts, "a sales question after the restart")

    keys = [r.headers.get("Authorization") for r in fake_dify.requests_to("/chat-messages")]
    assert keys == ["Bearer app-sales"], "routed by the channel it was opened from"
    assert fake_slack.title("D1", thread_ts) == "a sales question after the restart"


async def test_a_context_change_before_the_first_question_changes_the_app(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    routes = sales_in_c7(fake_dify, tmp_path)
    event = started(fake_slack, from_channel="C1")
    thread_ts = event["assistant_thread"]["thread_ts"]
    changed = dict(event, type="assistant_thread_context_changed")
    changed["assistant_thread"] = dict(event["assistant_thread"], context={"channel_id": "C7"})
    db = tmp_path / "bridge.db"
    async with running_slack_bot(fake_slack, fake_dify, db, DIFY_ROUTES_FILE=str(routes)) as bot:
        await bot.send(event)
        await eventually(lambda: _apps_kept(db) == ["default"])
        await bot.send(changed)
        await eventually(lambda: _apps_kept(db) == ["sales"])
    async with running_slack_bot(fake_slack, fake_dify, db, DIFY_ROUTES_FILE=str(routes)) as bot:
        await ask_in(bot, thread_ts, "which app now?")

    keys = [r.headers.get("Authorization") for r in fake_dify.requests_to("/chat-messages")]
    assert keys == ["Bearer app-sales"]


def _apps_kept(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return [row[0] for row in connection.execute("SELECT app FROM threads")]
