"""The fake Slack's AI surface: streaming messages, assistant threads, replies, tiers.

A mixin of :class:`tests.fakes.slack.FakeSlack`; it keeps the state it adds
in its own attributes (made on first use), so the base class only calls it:

- ``chat.startStream`` / ``appendStream`` / ``stopStream`` as Slack answers
  them: ``thread_ts`` required, ``recipient_user_id`` + ``recipient_team_id``
  outside DMs, ``channel_type_not_supported`` in :attr:`no_stream_channels`,
  ``message_not_in_streaming_state`` after a stop, ``streaming_state_conflict``
  for ``chat.update`` on a streaming message, text over 12,000 characters
  ``msg_too_long``; a stop's blocks are shown below the streamed text.
- ``assistant.threads.setStatus`` / ``setSuggestedPrompts`` / ``setTitle``,
  recorded per thread; ``conversations.replies`` from the stored messages.
- :meth:`use_tiers`: Slack's per-method tiers as sliding windows (a long one
  and a short burst window) with a time scale, so tests stay fast; a call over
  a window is answered 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.slack import FakeMessage

__all__ = ["SLACK_TIERS", "FakeSlackAI", "Tier"]

STREAM_MAX_CHARS = 12_000


@dataclass(frozen=True)
class Tier:
    per_window: int
    window: float
    burst: int
    burst_window: float
    per_channel: bool = False


SLACK_TIERS: dict[str, Tier] = {
    "chat.update": Tier(50, 60.0, 10, 6.0),
    "chat.startStream": Tier(20, 60.0, 4, 6.0),
    "chat.stopStream": Tier(20, 60.0, 4, 6.0),
    "chat.appendStream": Tier(100, 60.0, 20, 6.0),
    "chat.postMessage": Tier(60, 60.0, 3, 3.0, per_channel=True),
}
"""The tiers of the benchmark: a minute's calls, and at most ``burst`` per short window."""


@dataclass
class _Window:
    tier: Tier
    stamps: deque[float] = field(default_factory=deque)


class FakeSlackAI:
    """Methods and state for streams, assistant threads and tiers (mixed into FakeSlack)."""

    # provided by FakeSlack
    bot_user_id: str
    team_id: str
    messages: dict[tuple[str, str], FakeMessage]

    def add_message(
        self, channel: str, text: str, *, user: str = "U1", thread_ts: str | None = None
    ) -> FakeMessage: ...

    def _error(self, code: str) -> dict[str, Any]: ...

    def _message(self, args: dict[str, Any]) -> FakeMessage | None: ...

    # ------------------------------------------------------------------ state

    @property
    def ai(self) -> _AIState:
        state = self.__dict__.get("_ai_state")
        if state is None:
            state = self.__dict__["_ai_state"] = _AIState()
        return state

    @property
    def no_stream_channels(self) -> set[str]:
        """Channels where ``chat.startStream`` answers ``channel_type_not_supported``."""
        return self.ai.no_stream_channels

    def statuses(self, channel: str, thread_ts: str) -> list[str]:
        return list(self.ai.statuses.get((channel, thread_ts), []))

    def suggested_prompts(self, channel: str, thread_ts: str) -> list[dict[str, str]]:
        return list(self.ai.prompts.get((channel, thread_ts), []))

    def title(self, channel: str, thread_ts: str) -> str:
        return self.ai.titles.get((channel, thread_ts), "")

    def feedback_click(self, message: FakeMessage, action_id: str) -> dict[str, Any] | None:
        """The action of a click on Slack's native feedback buttons, when ``action_id``
        names a rating (``dify_feedback:like``) the message shows as ``feedback_buttons``."""
        if any(b.get("action_id") == action_id for b in message.buttons()):
            return None  # an old-style button with exactly this id
        kind, _, value = action_id.partition(":")
        for element in message.buttons():
            if element.get("type") != "feedback_buttons" or element.get("action_id") != kind:
                continue
            button = element["positive_button" if value == "like" else "negative_button"]
            if button.get("value") != value:
                continue
            return {
                "type": "feedback_buttons",
                "action_id": kind,
                "block_id": "feedback",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        return None

    # ------------------------------------------------------------------ tiers

    def use_tiers(self, tiers: dict[str, Tier] | None = None, *, time_scale: float = 1.0) -> None:
        """Rate-limit like Slack's tiers; ``time_scale`` 0.1 makes a minute 6 s."""
        self.ai.tiers = dict(SLACK_TIERS if tiers is None else tiers)
        self.ai.scale = time_scale

    def _check_tiers(self, method: str, args: dict[str, Any]) -> int | None:
        """Seconds to wait (Retry-After) if this call is over a tier, else None. Counts it."""
        tier = self.ai.tiers.get(method)
        if tier is None:
            return None
        key = f"{method}:{args.get('channel', '')}" if tier.per_channel else method
        window = self.ai.windows.setdefault(key, _Window(tier))
        now = time.monotonic()
        scale = self.ai.scale
        long_window, short_window = tier.window * scale, tier.burst_window * scale
        while window.stamps and window.stamps[0] <= now - long_window:
            window.stamps.popleft()
        recent = [s for s in window.stamps if s > now - short_window]
        wait = 0.0
        if len(window.stamps) >= tier.per_window:
            wait = window.stamps[0] + long_window - now
        if len(recent) >= tier.burst:
            wait = max(wait, recent[0] + short_window - now)
        if wait > 0:
            self.ai.rate_limited += 1
            return max(1, math.ceil(wait))
        window.stamps.append(now)
        return None

    # ----------------------------------------------------------------- streams

    def _api_chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        thread_ts = str(args.get("thread_ts") or "")
        if not channel:
            return self._error("channel_not_found")
        if not thread_ts:
            return self._error("invalid_arguments")
        if channel in self.ai.no_stream_channels:
            return self._error("channel_type_not_supported")
        if not channel.startswith("D"):
            if not args.get("recipient_user_id"):
                return self._error("missing_recipient_user_id")
            if not args.get("recipient_team_id"):
                return self._error("missing_recipient_team_id")
        text = _chunk_text(args)
        if len(text) > STREAM_MAX_CHARS:
            return self._error("msg_too_long")
        message = self.add_message(channel, text, user=self.bot_user_id, thread_ts=thread_ts)
        message.streaming = True
        self.replied(channel, thread_ts)
        return {"ok": True, "channel": channel, "ts": message.ts}

    def _api_chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._message(args)
        if message is None:
            return self._error("message_not_found")
        if not message.streaming:
            return self._error("message_not_in_streaming_state")
        text = _chunk_text(args)
        if len(text) > STREAM_MAX_CHARS or len(message.text) + len(text) > STREAM_MAX_CHARS:
            return self._error("msg_too_long")
        message.text += text
        message.edits += 1
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _api_chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        result = self._api_chat_appendStream(args)
        message = self._message(args)
        if message is not None and result["ok"]:
            message.streaming = False
            blocks = args.get("blocks")
            if blocks:
                from tests.fakes.slack.records import parse_blocks as _blocks

                message.below = _blocks(blocks) or []
        return result

    def _streaming_conflict(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """``chat.update`` of a message still streaming: Slack refuses it."""
        message = self._message(args)
        if message is not None and message.streaming:
            return self._error("streaming_state_conflict")
        if message is not None:
            message.below = []  # an update replaces what a stop put below the text
        return None

    # -------------------------------------------------------- assistant threads

    def replied(self, channel: str, thread_ts: str | None) -> None:
        """The app posted in a thread: Slack clears its status line."""
        statuses = self.ai.statuses.get((channel, thread_ts or ""))
        if statuses and statuses[-1]:
            statuses.append("")

    def _api_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel_id", "")), str(args.get("thread_ts", "")))
        if not all(key):
            return self._error("invalid_arguments")
        self.ai.statuses.setdefault(key, []).append(str(args.get("status", "")))
        return {"ok": True}

    def _api_assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel_id", "")), str(args.get("thread_ts", "")))
        prompts = args.get("prompts") or []
        if not all(key) or not isinstance(prompts, list) or len(prompts) > 4:
            return self._error("invalid_arguments")
        self.ai.prompts[key] = [dict(p) for p in prompts]
        return {"ok": True}

    def _api_assistant_threads_setTitle(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel_id", "")), str(args.get("thread_ts", "")))
        if not all(key):
            return self._error("invalid_arguments")
        self.ai.titles[key] = str(args.get("title", ""))
        return {"ok": True}

    def _api_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, root = str(args.get("channel", "")), str(args.get("ts", ""))
        found = sorted(
            (
                m
                for m in self.messages.values()
                if m.channel == channel and (m.ts == root or m.thread_ts == root) and not m.deleted
            ),
            key=lambda m: float(m.ts),
        )
        limit = int(str(args.get("limit") or 1000))
        views = []
        for m in found[:limit]:
            view: dict[str, Any] = {"type": "message", "user": m.user, "text": m.text, "ts": m.ts}
            if m.thread_ts:
                view["thread_ts"] = m.thread_ts
            if m.user == self.bot_user_id:
                view["bot_id"] = "BBOT"
            views.append(view)
        return {"ok": True, "messages": views, "has_more": len(found) > limit}


@dataclass
class _AIState:
    no_stream_channels: set[str] = field(default_factory=set)
    statuses: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    prompts: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    titles: dict[tuple[str, str], str] = field(default_factory=dict)
    tiers: dict[str, Tier] = field(default_factory=dict)
    windows: dict[str, _Window] = field(default_factory=dict)
    scale: float = 1.0
    rate_limited: int = 0


def _chunk_text(args: dict[str, Any]) -> str:
    """``markdown_text``, or the text of ``chunks`` (slack-sdk's chat_stream sends those)."""
    text = str(args.get("markdown_text", "") or "")
    for chunk in args.get("chunks") or []:
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
            text += str(chunk.get("text", ""))
    return text
