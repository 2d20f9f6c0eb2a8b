"""After an upgrade: a thread, an answer and its buttons from the previous release keep working.

The database is written with the previous release's schema and rows (its DDL
verbatim, from tests/test_store_upgrade.py); the answer in Slack carries the
buttons that release posted. The new release must continue the same Dify
conversation as the same Dify user, and a click on the old 👍 must rate the
old answer.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.fakes.slack import FakeSlack
from tests.slack.conftest import eventually, running_slack_bot
from tests.test_store_upgrade import V1_SQLITE, V1_VERSION

CHANNEL = "C1"

# the buttons the previous release put under a finished answer (slack_blocks.py, 0.1.0)
PREVIOUS_RELEASE_BUTTONS = {
    "type": "actions",
    "block_id": "dify_controls",
    "elements": [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "👍", "emoji": True},
            "action_id": "dify_feedback:like",
            "value": "like",
        },
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "👎", "emoji": True},
            "action_id": "dify_feedback:dislike",
            "value": "dislike",
        },
    ],
}


def previous_release_database(path: Path, rows: str) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(V1_SQLITE + V1_VERSION + rows)


async def test_a_thread_and_its_buttons_from_the_previous_release_keep_working(
    fake_slack: FakeSlack, fake_dify: Any, tmp_path: Path
) -> None:
    question = fake_slack.add_message(CHANNEL, "<@UBOT> an old question")
    thread_key = f"slack:{fake_slack.team_id}:{CHANNEL}:{question.ts}"
    conversation = fake_dify.create_conversation(thread_key, queries=["an old question"])
    (old_message,) = conversation.messages
    answer = fake_slack.add_message(
        CHANNEL, old_message.answer, user=fake_slack.bot_user_id, thread_ts=question.ts
    )
    answer.blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": old_message.answer}},
        PREVIOUS_RELEASE_BUTTONS,
    ]
    answer_key = f"slack:{fake_slack.team_id}:{CHANNEL}:{answer.ts}"
    database = tmp_path / "bridge.db"
    previous_release_database(
        database,
        f"""
        INSERT INTO threads VALUES
            ('{thread_key}', '{conversation.id}', '{thread_key}', 'default', 1000.0, 1000.0);
        INSERT INTO messages VALUES
            ('{answer_key}', '{old_message.id}', '{thread_key}', '{thread_key}', 'default',
             1000.0);
        """,
    )

    async with running_slack_bot(fake_slack, fake_dify, database) as bot:
        payload = fake_slack.block_action(answer, "dify_feedback:like", user="U2")
        status, _ = await fake_slack.post_action(bot.events_url, payload)
        assert status == 200
        feedbacks = f"/messages/{old_message.id}/feedbacks"
        await eventually(lambda: bool(fake_dify.requests_to(feedbacks)))
        (rated,) = fake_dify.requests_to(feedbacks)
        assert rated.json == {"rating": "like", "user": thread_key}

        await bot.reply(CHANNEL, question.ts, "and a new one")

    (request,) = fake_dify.chat_requests
    assert request["conversation_id"] == conversation.id, "the same conversation goes on"
    assert request["user"] == thread_key, "as the same Dify user"
    assert len(conversation.messages) == 2
