"""Dify's Markdown as Slack mrkdwn that can never ping anyone.

Slack reads ``<...>`` as links and mentions (``<!channel>``, ``<@U123>``), so
answer text escapes ``&``, ``<`` and ``>`` *before* the Markdown is
converted. After conversion the only angle brackets left are the links the
converter made; any whose target is not a web or mail address is escaped
back into plain text.
"""

from __future__ import annotations

import re

from markdown_to_mrkdwn import SlackMarkdownConverter

__all__ = ["escape_mrkdwn", "markdown_for_stream", "markdown_to_mrkdwn"]

_LINK = re.compile(r"<([^<>|]*)(\|[^<>]*)?>")
_SAFE_TARGET = re.compile(r"(?:https?://|mailto:)[^\s|]+", re.IGNORECASE)


def escape_mrkdwn(text: str) -> str:
    """Text shown as is: Slack's three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_to_mrkdwn(markdown: str) -> str:
    """Convert Markdown to mrkdwn; links stay links, nothing becomes a mention."""
    converted = SlackMarkdownConverter().convert(escape_mrkdwn(markdown))
    return _LINK.sub(_keep_safe_link, converted)


def _keep_safe_link(match: re.Match[str]) -> str:
    target = match.group(1)
    if _SAFE_TARGET.fullmatch(target):
        return match.group(0)
    return escape_mrkdwn(match.group(0))


_PING = re.compile(r"<(?=[!@#])")


def markdown_for_stream(markdown: str) -> str:
    """Markdown as Slack's ``markdown_text`` shows it, without any ``<!here>``-style pings.

    A zero-width joiner after ``<`` keeps ``<!channel>``, ``<@U1>`` and ``<#C1>``
    readable as text while Slack no longer sees a mention in them.
    """
    return _PING.sub("<\u2060", markdown)
