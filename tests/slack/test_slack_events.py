"""Which Slack events become bridge values, and under which keys."""

from __future__ import annotations

from typing import Any

import pytest

from dify_bridge.adapters.slack.events import (
    BotIdentity,
    parse_message,
    parse_reaction,
    rating_of,
)
from dify_bridge.core.types import Rating

BOT = BotIdentity(team_id="T1", user_id="UBOT", bot_id="BBOT", workspace_url="https://t.test/")


def body(**event: Any) -> dict[str, Any]:
    base = {"type": "message", "user": "U1", "channel": "C1", "ts": "100.1", "text": "hi"}
    return {"team_id": "T1", "event_id": "Ev1", "event": base | event}


def test_a_mention_is_stripped_and_keyed_by_its_thread():
    message = parse_message(body(type="app_mention", text="<@UBOT>  what &amp; why &lt;3"), BOT)
    assert message is not None
    assert message.text == "what & why <3"
    assert message.mentions_bot
    assert message.thread_key == "slack:T1:C1:100.1"
    assert message.reply_thread_ts == "100.1"
    assert message.event_keys == ("slack-msg:T1:C1:100.1", "slack-event:Ev1")
    assert message.thread_url("https://t.test/") == "https://t.test/archives/C1/p1001"


def test_a_thread_reply_shares_the_threads_key():
    message = parse_message(body(ts="101.5", thread_ts="100.1"), BOT)
    assert message is not None and not message.mentions_bot
    assert message.thread_key == "slack:T1:C1:100.1"
    assert message.reply_thread_ts == "100.1"


def test_a_dm_is_one_conversation_unless_inside_a_thread():
    top = parse_message(body(channel="D1", channel_type="im"), BOT)
    threaded = parse_message(body(channel="D1", channel_type="im", thread_ts="90.0"), BOT)
    assert top is not None and top.thread_key == "slack:T1:D1:dm" and top.reply_thread_ts is None
    assert threaded is not None and threaded.thread_key == "slack:T1:D1:90.0"
    assert threaded.reply_thread_ts == "90.0"


@pytest.mark.parametrize(
    "event",
    [
        {"bot_id": "B2"},
        {"user": "UBOT"},
        {"subtype": "message_changed"},
        {"subtype": "channel_join"},
        {"user": ""},
    ],
)
def test_bots_the_bot_itself_and_non_speech_subtypes_are_skipped(event: dict[str, Any]):
    assert parse_message(body(**event), BOT) is None


def test_file_shares_and_broadcasts_are_speech():
    files = [{"name": "a.pdf", "mimetype": "application/pdf", "size": 3, "url_private": "u"}]
    shared = parse_message(body(subtype="file_share", files=files), BOT)
    assert shared is not None and shared.attachments[0].name == "a.pdf"
    assert parse_message(body(subtype="thread_broadcast", thread_ts="1.0"), BOT) is not None


@pytest.mark.parametrize(
    ("name", "rating"),
    [
        ("+1", Rating.LIKE),
        ("thumbsup", Rating.LIKE),
        ("+1::skin-tone-5", Rating.LIKE),
        ("-1", Rating.DISLIKE),
        ("thumbsdown::skin-tone-2", Rating.DISLIKE),
        ("tada", None),
        ("heart", None),
    ],
)
def test_reaction_names(name: str, rating: Rating | None):
    assert rating_of(name) is rating


def reaction(kind: str = "reaction_added", **event: Any) -> dict[str, Any]:
    base = {
        "type": kind,
        "user": "U1",
        "reaction": "+1",
        "item_user": "UBOT",
        "item": {"type": "message", "channel": "C1", "ts": "200.2"},
    }
    return {"team_id": "T1", "event": base | event}


def test_a_reaction_names_the_bot_message_it_rates():
    added = parse_reaction(reaction(), BOT)
    removed = parse_reaction(reaction("reaction_removed"), BOT)
    assert added is not None and removed is not None
    assert added.reaction.message_key == "slack:T1:C1:200.2"
    assert added.reaction.rating is Rating.LIKE and added.reaction.user_id == "U1"
    assert removed.reaction.rating is None


@pytest.mark.parametrize(
    "event",
    [{"reaction": "tada"}, {"item_user": "U2"}, {"user": "UBOT"}, {"item": {"type": "file"}}],
)
def test_reactions_that_are_not_ratings_of_the_bot_are_skipped(event: dict[str, Any]):
    assert parse_reaction(reaction(**event), BOT) is None
