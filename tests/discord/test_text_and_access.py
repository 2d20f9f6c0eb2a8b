"""The Discord adapter's text rules and allow-lists, one rule at a time."""

from __future__ import annotations

import pytest

from dify_bridge.adapters.discord.places import Place, Places, policy_for
from dify_bridge.adapters.discord.text import (
    name_user_mentions,
    neutralise_mentions,
    parse_message_key,
    rating_for,
    strip_bot_mention,
    thread_name,
)
from dify_bridge.config import DiscordSettings, Secret
from dify_bridge.core import AccessPolicy, MessageKey, Rating, ThreadKey


def test_keys_name_guild_threads_and_dms() -> None:
    assert str(ThreadKey.discord(1, 2)) == "discord:1:2"
    assert str(ThreadKey.discord(None, 3)) == "discord:dm:3"
    assert parse_message_key(str(MessageKey.discord(4, 5))) == (4, 5)
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


def _places(**lists: frozenset[str]) -> Places:
    return Places(lambda: pytest.fail("no client needed"), AccessPolicy(**lists))


THREAD_99_IN_10 = Place(99, 10, "general")
CHANNEL_2 = Place(2, None, "general")


def test_empty_allow_lists_allow_everything_including_dms() -> None:
    places = _places()
    assert places.takes_dms
    assert places.allows(1, THREAD_99_IN_10, None)


def test_a_thread_follows_its_parent_channel() -> None:
    places = _places(places=frozenset({"10"}))
    assert places.allows(1, THREAD_99_IN_10, None), "thread 99 in channel 10"
    assert not places.allows(1, Place(98, 11, "other"), None)
    assert not places.takes_dms, "a restricted bot takes no DMs"


def test_guild_and_role_lists() -> None:
    places = _places(groups=frozenset({"1"}), roles=frozenset({"5"}))
    assert places.allows(1, CHANNEL_2, ["4", "5"]) and not places.allows(3, CHANNEL_2, ["5"])
    assert not places.allows(1, CHANNEL_2, ["4"])
    assert not places.allows(1, CHANNEL_2, None), "unknown roles are refused"
    assert places.allows_place(1, CHANNEL_2), "a reaction removal is checked by place only"


def test_the_settings_lists_become_the_policy() -> None:
    settings = DiscordSettings(
        Secret("token"),
        allowed_guilds=frozenset({"1"}),
        allowed_channels=frozenset({"2"}),
        allowed_roles=frozenset({"3"}),
    )
    assert policy_for(settings) == AccessPolicy(
        groups=frozenset({"1"}), places=frozenset({"2"}), roles=frozenset({"3"})
    )
