"""Slack's assistant threads (the app's split view): greeting, routing by context, title.

Manifest ``features.assistant_view``, scope ``assistant:write``, events
``assistant_thread_started``, ``assistant_thread_context_changed`` and
``message.im``. A thread started by a user gets the app's opening statement
(if any) and up to four of its opening questions as suggested prompts
(``assistant.threads.setSuggestedPrompts``), read from the app's parameters
(:meth:`Bridge.opening`, no chat request). The app is the one the channel the
user opened the view from routes to (``assistant_thread.context.channel_id``):
kept in the thread's record in the store as soon as the thread starts (and
again when the context changes before the first question), so a restart or
another replica still routes the thread's first question there; once the
thread has a conversation its app stays. The first question becomes the
thread's title (``assistant.threads.setTitle``); the status line
(``setStatus``) is the stream sink's.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any, NamedTuple

from dify_bridge.core import Bridge
from dify_bridge.keys import RouteScope, ThreadKey

from .client import SlackCallFailed, call_slack
from .events import UserMessage
from .workspaces import SlackWorkspaces, team_of

__all__ = ["MAX_PROMPTS", "SlackAssistant", "route_scopes"]

log = logging.getLogger(__name__)

MAX_PROMPTS = 4
TITLE_MAX_CHARS = 80
PROMPT_TITLE_MAX_CHARS = 40
REMEMBERED = 10_000


class AssistantThread(NamedTuple):
    channel: str
    thread_ts: str
    key: str
    from_channel: str
    """The channel the user opened the view from ("" when Slack gave none)."""
    scopes: tuple[str, ...]


class SlackAssistant:
    """``assistant_thread_started`` / ``assistant_thread_context_changed`` and thread titles."""

    def __init__(self, bridge: Bridge, workspaces: SlackWorkspaces) -> None:
        self._bridge = bridge
        self._workspaces = workspaces
        self._contexts: OrderedDict[tuple[str, str], str] = OrderedDict()

    def scopes_for(self, message: UserMessage) -> tuple[str, ...]:
        """Route scopes of a message: an assistant thread's are those of its context channel."""
        context = None
        if message.is_dm and message.thread_ts:
            context = self._contexts.get((message.channel, message.thread_ts))
        return route_scopes(message.team_id, context or message.channel)

    async def on_started(self, body: dict[str, Any]) -> None:
        thread = self._remember(body)
        if thread is None:
            return
        await self._route(thread)
        channel, thread_ts, scopes = thread.channel, thread.thread_ts, thread.scopes
        client = self._workspaces.client(team_of(body))
        opening = await self._bridge.opening(scopes)
        if opening.statement:
            await self._call(
                "chat.postMessage",
                client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    markdown_text=opening.statement,
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
        prompts = [
            {"title": _short(q, PROMPT_TITLE_MAX_CHARS), "message": q}
            for q in opening.questions[:MAX_PROMPTS]
        ]
        if prompts:
            await self._call(
                "assistant.threads.setSuggestedPrompts",
                client.assistant_threads_setSuggestedPrompts(
                    channel_id=channel, thread_ts=thread_ts, prompts=prompts
                ),
            )

    async def on_context_changed(self, body: dict[str, Any]) -> None:
        thread = self._remember(body)
        if thread is not None:
            await self._route(thread)

    async def _route(self, thread: AssistantThread) -> None:
        """A thread opened from a channel talks to that channel's app, after a restart too."""
        if thread.from_channel:
            await self._bridge.route_thread(thread.key, thread.scopes)

    async def first_question(self, message: UserMessage) -> None:
        """The thread's title, from its first question."""
        if not (message.is_dm and message.thread_ts and message.text):
            return
        if await self._bridge.has_begun(message.thread_key):
            return
        await self._call(
            "assistant.threads.setTitle",
            self._workspaces.client(message.team_id).assistant_threads_setTitle(
                channel_id=message.channel,
                thread_ts=message.thread_ts,
                title=_short(message.text, TITLE_MAX_CHARS),
            ),
        )

    def _remember(self, body: dict[str, Any]) -> AssistantThread | None:
        event = body.get("event")
        thread = event.get("assistant_thread") if isinstance(event, dict) else None
        if not isinstance(thread, dict):
            return None
        channel, thread_ts = str(thread.get("channel_id") or ""), str(thread.get("thread_ts") or "")
        if not channel or not thread_ts:
            return None
        context = thread.get("context")
        context = context if isinstance(context, dict) else {}
        from_channel = str(context.get("channel_id") or "")
        team = str(context.get("team_id") or body.get("team_id") or "")
        if from_channel:
            self._contexts[(channel, thread_ts)] = from_channel
            self._contexts.move_to_end((channel, thread_ts))
            while len(self._contexts) > REMEMBERED:
                self._contexts.popitem(last=False)
        key = str(ThreadKey.slack(str(body.get("team_id") or team), channel, thread_ts))
        scopes = route_scopes(team, from_channel or channel)
        return AssistantThread(channel, thread_ts, key, from_channel, scopes)

    async def _call(self, method: str, call: Any) -> None:
        try:
            await call_slack(method, call)
        except SlackCallFailed as exc:
            log.info("%s in an assistant thread failed: %s", method, exc.error)


def route_scopes(team_id: str, channel: str) -> tuple[str, ...]:
    """Where a message came from as ``DIFY_ROUTES_FILE`` names it: channel, then workspace."""
    return (str(RouteScope.slack(channel)), str(RouteScope.slack(team_id)))


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
