"""A thread's earlier messages, for the first turn of a mention in a thread the bot was not in.

``SLACK_THREAD_CONTEXT`` (default true). ``conversations.replies`` gives the
thread; its messages before the mention go ahead of the question, capped and
laid out by :mod:`dify_bridge.core.history` (the newest 20, ~8,000
characters, each line ``Name: text``). Slack's Tier 3 on ``conversations.replies``
is not waited out: on ``ratelimited`` (or any failure) the question goes
without its context and one line is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.core import Said, history

from .client import SlackCallFailed, call_slack
from .directory import SlackDirectory

__all__ = ["thread_context"]

log = logging.getLogger(__name__)

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
    # speakers are looked up for the messages that can be kept only
    earlier = [m for m in messages if _before(m, before_ts) and str(m.get("text") or "").strip()]
    said = [
        Said(await _speaker(directory, team_id, message, bot_user_id), str(message["text"]))
        for message in earlier[-history.MAX_MESSAGES :]
    ]
    return history.history_text(said)


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
        return history.speaker_label("", own=True)
    if message.get("bot_id") and not user:
        profile = message.get("bot_profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        return history.speaker_label(str(name or message.get("username") or ""), bot=True)
    return history.speaker_label((await directory.user_name(team_id, user) if user else "") or user)
