"""Markdown to mrkdwn: formatting survives, mentions never do."""

from __future__ import annotations

import pytest

from dify_bridge.adapters.slack.format import escape_mrkdwn, markdown_to_mrkdwn


def test_common_markdown_becomes_mrkdwn():
    text = "# Title\n\nSome **bold**, *italic*, `code` and ~~gone~~.\n\n- one\n- two"
    assert markdown_to_mrkdwn(text) == (
        "*Title*\n\nSome *bold*, _italic_, `code` and ~gone~.\n\n• one\n• two"
    )


def test_links_stay_clickable_with_escaped_ampersands():
    assert markdown_to_mrkdwn("[docs](https://ex.test/a?b=1&c=2)") == (
        "<https://ex.test/a?b=1&amp;c=2|docs>"
    )
    assert markdown_to_mrkdwn("[mail](mailto:help@ex.test)") == "<mailto:help@ex.test|mail>"


@pytest.mark.parametrize(
    "markdown",
    [
        "<!channel> look",
        "<!here|here>",
        "hi <@U123>",
        "<#C123>",
        "<!subteam^S1>",
        "[x](!channel)",
        "![img](@U123)",
        "[click](javascript:alert(1))",
        "<https://ex.test|a link made by hand>",
    ],
)
def test_nothing_in_an_answer_becomes_a_mention_or_a_raw_slack_link(markdown: str):
    rendered = markdown_to_mrkdwn(markdown)
    assert "<!" not in rendered and "<@" not in rendered and "<#" not in rendered
    assert "<javascript" not in rendered
    assert "<https://ex.test|a link" not in rendered


def test_code_keeps_its_characters():
    rendered = markdown_to_mrkdwn("```python\nif a < b and c > d:\n    x = '&'\n```")
    assert rendered == "```python\nif a &lt; b and c &gt; d:\n    x = '&amp;'\n```"


def test_escape_is_exactly_slacks_three_characters():
    assert escape_mrkdwn("a & b < c > d \"e\" 'f'") == "a &amp; b &lt; c &gt; d \"e\" 'f'"
    assert markdown_to_mrkdwn("&lt;") == "&amp;lt;", "text is shown as written"
