"""Marking an answer another replica left unfinished when it died.

The survivor knows only the keys (from the store's answers in flight), so it
reads what the message shows now and ends it the way a live answer ends when
interrupted: the text so far with the notice line under it, no buttons, and
no hourglass on the question. A message the dead replica was still streaming
is ended with ``chat.stopStream`` (the notice as its last piece); any other
is read back (``conversations.replies``) and replaced with ``chat.update``
(``blocks=[]`` takes the Stop button off). Both take their token from the
workspace's budgets like any final edit.
"""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.core import LeftAnswer, MessageKey, ThreadKey

from .budgets import WorkspaceBudgets
from .client import SlackCallFailed, call_slack
from .format import markdown_to_mrkdwn
from .sink import MAX_MESSAGE_CHARS, THINKING_REACTION
from .streaming import NOT_STREAMING

__all__ = ["mark_left_answer"]


async def mark_left_answer(
    client: AsyncWebClient, budgets: WorkspaceBudgets, answer: LeftAnswer, notice: str
) -> None:
    """Raises only :class:`SlackCallFailed`."""
    try:
        await _mark(client, budgets, answer, f"⚠️ {notice}")
    except ValueError as exc:  # a key this release does not write
        raise SlackCallFailed("takeover", str(exc)) from None


async def _mark(
    client: AsyncWebClient, budgets: WorkspaceBudgets, answer: LeftAnswer, line: str
) -> None:
    if answer.question_key:
        await _remove_hourglass(client, answer.question_key)
    if not answer.message_keys:
        _, channel, thread_ts = ThreadKey.parse(answer.thread_key).parts[:3]
        await call_slack(
            "chat.postMessage",
            client.chat_postMessage(
                channel=channel,
                thread_ts=None if thread_ts == "dm" else thread_ts,  # ThreadKey.slack's DM
                text=markdown_to_mrkdwn(line),
            ),
        )
        return
    team, channel, ts = MessageKey.parse(answer.message_keys[-1]).parts[:3]
    team_budgets = budgets.team(team)
    await team_budgets.stop.acquire(final=True)
    try:
        await call_slack(
            "chat.stopStream",
            client.chat_stopStream(channel=channel, ts=ts, markdown_text=f"\n\n{line}"),
        )
        return
    except SlackCallFailed as exc:
        if exc.error not in NOT_STREAMING:
            raise
    shown = await _text_of(client, channel, ts)
    text = f"{shown}\n\n{markdown_to_mrkdwn(line)}" if shown.strip() else markdown_to_mrkdwn(line)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - len(line) - 3] + "…\n\n" + markdown_to_mrkdwn(line)
    await team_budgets.update.acquire(final=True)
    await call_slack(
        "chat.update", client.chat_update(channel=channel, ts=ts, text=text, blocks=[])
    )


async def _remove_hourglass(client: AsyncWebClient, question_key: str) -> None:
    _, channel, ts = MessageKey.parse(question_key).parts[:3]
    try:
        await call_slack(
            "reactions.remove",
            client.reactions_remove(channel=channel, timestamp=ts, name=THINKING_REACTION),
        )
    except SlackCallFailed as exc:
        if exc.error not in ("no_reaction", "message_not_found"):
            raise


async def _text_of(client: AsyncWebClient, channel: str, ts: str) -> str:
    """What the message ``ts`` shows now (its text), "" if Slack does not return it."""
    data = await call_slack(
        "conversations.replies",
        client.conversations_replies(
            channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True, limit=200
        ),
    )
    for message in data.get("messages") or []:
        if isinstance(message, dict) and message.get("ts") == ts:
            return str(message.get("text") or "")
    return ""
