"""The stored names of threads, answers and route scopes, pinned.

A thread key is also the Dify ``user`` of a new thread and every key is in
the store: a format change here would orphan every deployment's conversations
after an upgrade. These are the formats the first release wrote.
"""

from __future__ import annotations

import pytest

from dify_bridge.keys import EventKey, MessageKey, RouteScope, ThreadKey, dify_user_for
from dify_bridge.store.schema import channel_of


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (ThreadKey.slack("T1", "C1", "1700000000.000100"), "slack:T1:C1:1700000000.000100"),
        (ThreadKey.slack("T1", "D1", None), "slack:T1:D1:dm"),
        (ThreadKey.discord(123, 456), "discord:123:456"),
        (ThreadKey.discord(None, 456), "discord:dm:456"),
        (ThreadKey.console(2), "console:local:2"),
    ],
)
def test_thread_keys_keep_the_first_release_format(key: ThreadKey, text: str) -> None:
    assert str(key) == text
    assert ThreadKey.parse(text) == key
    assert dify_user_for(key) == text, "existing threads keep talking to Dify as the same user"


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (MessageKey.slack("T1", "C1", "1700000000.000200"), "slack:T1:C1:1700000000.000200"),
        (MessageKey.discord(456, 789), "discord:456:789"),
        (MessageKey.console(ThreadKey.console(1), 3), "console:console:local:1:3"),
    ],
)
def test_message_keys_keep_the_first_release_format(key: MessageKey, text: str) -> None:
    assert str(key) == text
    assert str(MessageKey.parse(text)) == text


def test_route_scopes_are_the_routes_file_names() -> None:
    assert str(RouteScope.slack("C0123ABC")) == "slack:C0123ABC"
    assert str(RouteScope.slack("T0456DEF")) == "slack:T0456DEF"
    assert str(RouteScope.discord_channel(2345678901)) == "discord:2345678901"
    assert str(RouteScope.discord_guild(1234567890)) == "discord:guild:1234567890"


def test_a_threads_channel_is_what_the_store_groups_it_by() -> None:
    for key in (ThreadKey.slack("T1", "C1", "1.2"), ThreadKey.discord(1, 2)):
        assert key.channel == channel_of(str(key))
    assert ThreadKey.slack("T1", "C1", "1.2").channel == "slack:T1:C1"


def test_a_key_with_an_empty_part_is_refused() -> None:
    with pytest.raises(ValueError):
        ThreadKey.slack("", "C1", "1.2")
    with pytest.raises(ValueError):
        ThreadKey.parse("slack")


def test_event_keys_keep_the_first_release_format() -> None:
    assert str(EventKey.slack_message("T1", "C1", "1.2")) == "slack-msg:T1:C1:1.2"
    assert str(EventKey.slack_delivery("Ev123")) == "slack-event:Ev123"
    assert str(EventKey.discord_message(42)) == "discord-msg:42"
    assert str(EventKey.discord_interaction(43)) == "discord-interaction:43"
    assert str(EventKey.click("slack:T1:C1:1.2", "U1", "Why?")) == "click:slack:T1:C1:1.2:U1:Why?"
