"""A thread's earlier messages, for the first turn of a mention in a thread the bot was not in.

``SLACK_THREAD_CONTEXT`` (default true). ``conversations.replies`` gives the
thread; the newest :data:`MAX_MESSAGES` messages before the mention, at most
:data:`MAX_CHARS` characters (the oldest dropped first), go ahead of the
question, each line ``Name: text``. Slack's Tier 3 on ``conversations.replies``
is not waited out: on ``ratelimited`` (or any failure) the question goes
without its context and one line is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from .client import SlackCallFailed, call_slack
from .directory import SlackDirectory

__all__ = ["MAX_CHARS", "MAX_MESSAGES", "thread_context"]

log = logging.getLogger(__name__)

MAX_MESSAGES = 20
MAX_CHARS = 8000
HEADING = "Earlier in this thread:"
PAGE = 200


async def thread_context(
    client: AsyncWebClient,
    directory: SlackDirectory,
    *,
    team_id: str,
    channel: str,
    thread_ts: str,
    before_ts: str,
    bot_user_id: str,
) -> str:
    """The thread's earlier messages as text, or "" (none, or Slack would not say)."""
    # one try, no 429 retries: an answer without context beats an answer a minute late
    quick = AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        session=client.session,
        timeout=10,
        logger=client.logger,
        retry_handlers=[],
    )
    try:
        data = await call_slack(
            "conversations.replies",
            quick.conversations_replies(channel=channel, ts=thread_ts, limit=PAGE),
        )
    except SlackCallFailed as exc:
        log.warning("answering in %s without the thread's earlier messages: %s", channel, exc.error)
        return ""
    messages = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    earlier = [m for m in messages if _before(m, before_ts)][-MAX_MESSAGES:]
    lines: list[str] = []
    for message in earlier:
        text = " ".join(str(message.get("text") or "").split())
        if not text:
            continue
        lines.append(f"{await _speaker(directory, team_id, message, bot_user_id)}: {text}")
    kept: list[str] = []
    total = len(HEADING)
    for line in reversed(lines):  # the newest lines matter most
        if total + len(line) + 1 > MAX_CHARS:
            break
        kept.append(line)
        total += len(line) + 1
    if not kept:
        return ""
    return "\n".join([HEADING, *reversed(kept)])


def _before(message: dict[str, Any], ts: str) -> bool:
    try:
        return float(str(message.get("ts") or "0")) < float(ts)
    except ValueError:
        return False


async def _speaker(
    directory: SlackDirectory, team_id: str, message: dict[str, Any], bot_user_id: str
) -> str:
    user = str(message.get("user") or "")
    if user and user == bot_user_id:
        return "Assistant"
    if message.get("bot_id") and not user:
        profile = message.get("bot_profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        return str(name or message.get("username") or "A bot")
    return (await directory.user_name(team_id, user) if user else "") or user or "Someone"
