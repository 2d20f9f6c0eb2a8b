"""The Discord adapter's text rules and allow-lists, one rule at a time."""

from __future__ import annotations

import pytest

from dify_bridge.adapters.discord.access import AccessPolicy
from dify_bridge.adapters.discord.text import (
    message_key,
    name_user_mentions,
    neutralise_mentions,
    parse_message_key,
    rating_for,
    strip_bot_mention,
    thread_key,
    thread_name,
)
from dify_bridge.core.types import Rating


def test_keys_name_guild_threads_and_dms() -> None:
    assert thread_key(1, 2) == "discord:1:2"
    assert thread_key(None, 3) == "discord:dm:3"
    assert parse_message_key(message_key(4, 5)) == (4, 5)
    with pytest.raises(ValueError):
        parse_message_key("slack:4:5")


def test_the_bot_mention_is_removed_and_other_mentions_become_names() -> None:
    assert strip_bot_mention("<@42> what is <@!42> up to?", 42) == "what is   up to?"
    assert name_user_mentions("ask <@7> or <@!7>", {7: "Bob"}) == "ask @Bob or @Bob"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is Dify?", "What is Dify?"),
        ("  spaced \n out  ", "spaced out"),
        ("", "Question from Alice"),
        ("@everyone look", "everyone look"),
        (
            "How do I connect my knowledge base to a chatflow app with many nodes in it?",
            "How do I connect my knowledge base to a chatflow app with…",
        ),
    ],
)
def test_thread_names_come_from_the_first_words(question: str, expected: str) -> None:
    name = thread_name(question, "Question from Alice")
    assert name == expected
    assert len(name) <= 100


def test_rendering_keeps_markdown_but_no_mention_can_ping() -> None:
    text = neutralise_mentions("**Hi** @everyone, @here: <@1>, <@!2>, <@&3>\n```py\nx = 1\n```")
    assert text.startswith("**Hi** @")
    assert "```py\nx = 1\n```" in text
    for mention in ("@everyone", "@here", "<@1>", "<@!2>", "<@&3>"):
        assert mention not in text


@pytest.mark.parametrize(
    ("emoji", "rating"),
    [
        ("👍", Rating.LIKE),
        ("👍🏿", Rating.LIKE),
        ("👎", Rating.DISLIKE),
        ("🎉", None),
        (None, None),
    ],
)
def test_thumbs_are_ratings(emoji: str | None, rating: Rating | None) -> None:
    assert rating_for(emoji) is rating


def test_empty_allow_lists_allow_everything_including_dms() -> None:
    policy = AccessPolicy()
    assert policy.allows_dm()
    assert policy.allows_place(1, (2, 3))
    assert policy.allows_roles(None)


def test_a_thread_follows_its_parent_channel() -> None:
    policy = AccessPolicy(channels=frozenset({"10"}))
    assert policy.allows_place(1, (99, 10)), "thread 99 in channel 10"
    assert not policy.allows_place(1, (98, 11))
    assert not policy.allows_dm(), "a restricted bot takes no DMs"


def test_guild_and_role_lists() -> None:
    policy = AccessPolicy(guilds=frozenset({"1"}), roles=frozenset({"5"}))
    assert policy.allows_place(1, (2,)) and not policy.allows_place(3, (2,))
    assert policy.allows_roles([4, 5]) and not policy.allows_roles([4])
    assert not policy.allows_roles(None), "unknown roles are refused"
