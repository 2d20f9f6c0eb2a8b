"""One scheduler for every Slack budget of a workspace, paused per method on 429.

Slack limits each Web API method per workspace and app, whatever the number of
answers streaming at once, so every answer in a workspace takes its calls
from one :class:`TeamBudgets`:

==================  ==========  =====================================================
method              tier        how an answer uses it
==================  ==========  =====================================================
chat.startStream    2 (~20/min) only when a token is free *now*: otherwise the answer
                                is posted and edited (never waits for a stream)
chat.stopStream     2 (~20/min) waited for, never dropped (the end of a stream)
chat.appendStream   4 (~100/min) waited for; the writer coalesces what waits
chat.update         3 (~50/min) ``SLACK_EDITS_PER_MINUTE``; final edits go first
chat.postMessage    ~1/s per    waited for; per channel, so an answer whose edits
                    channel     would come too rarely grows by new messages instead
==================  ==========  =====================================================

Each budget sits a little below its tier, with a small burst. A 429 on one
method pauses that method's budget for its ``Retry-After`` (extended, never
stacked, when many answers see the same 429), and slack-sdk retries the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dify_bridge.core import BoundedDict, EditBudget

__all__ = ["TIER_PER_MINUTE", "TeamBudgets", "WorkspaceBudgets"]

TIER_PER_MINUTE = {
    "chat.startStream": 18.0,
    "chat.stopStream": 18.0,
    "chat.appendStream": 90.0,
}
"""Calls a minute the bridge allows itself per method (chat.update: the setting)."""
BURSTS = {"chat.startStream": 3, "chat.stopStream": 3, "chat.appendStream": 3, "chat.update": 3}
POSTS_PER_MINUTE = 55.0
"""``chat.postMessage`` per channel: a little under one a second, without bursts
(Slack allows short ones, but three in any three seconds is the most it promises)."""
CHANNELS_KEPT = 4096
"""Per-channel post budgets kept per workspace (an idle one is full again anyway)."""


@dataclass
class TeamBudgets:
    """The budgets of one workspace, one per rate-limited method."""

    update: EditBudget
    start: EditBudget
    stop: EditBudget
    append: EditBudget
    clock: Callable[[], float] = time.monotonic
    time_scale: float = 1.0
    _posts: BoundedDict[str, EditBudget] = field(
        default_factory=lambda: BoundedDict(CHANNELS_KEPT), init=False, repr=False
    )

    def posts_in(self, channel: str) -> EditBudget:
        """The ``chat.postMessage`` budget of one channel."""
        budget = self._posts.get(channel)
        if budget is None:
            budget = EditBudget(POSTS_PER_MINUTE / self.time_scale, burst=1, clock=self.clock)
            self._posts[channel] = budget
        return budget

    def for_method(self, method: str) -> EditBudget | None:
        return {
            "chat.update": self.update,
            "chat.startStream": self.start,
            "chat.stopStream": self.stop,
            "chat.appendStream": self.append,
        }.get(method)


class WorkspaceBudgets:
    """All answers in one workspace share its :class:`TeamBudgets`."""

    def __init__(
        self,
        edits_per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        time_scale: float = 1.0,
    ) -> None:
        self._per_minute = {"chat.update": edits_per_minute, **TIER_PER_MINUTE}
        self._scale = time_scale
        self._clock = clock
        self._teams: dict[str, TeamBudgets] = {}
        self._paused_until: dict[tuple[str, str], float] = {}

    def _budget(self, method: str) -> EditBudget:
        return EditBudget(
            self._per_minute[method] / self._scale, burst=BURSTS[method], clock=self._clock
        )

    def team(self, team_id: str) -> TeamBudgets:
        budgets = self._teams.get(team_id)
        if budgets is None:
            budgets = self._teams[team_id] = TeamBudgets(
                update=self._budget("chat.update"),
                start=self._budget("chat.startStream"),
                stop=self._budget("chat.stopStream"),
                append=self._budget("chat.appendStream"),
                clock=self._clock,
                time_scale=self._scale,
            )
        return budgets

    def for_team(self, team_id: str) -> EditBudget:
        """The ``chat.update`` budget of ``team_id``."""
        return self.team(team_id).update

    def on_rate_limited(
        self, method: str, retry_after: float, *, team_id: str | None = None
    ) -> None:
        """A 429 pauses that method for every answer of the workspace whose token got it
        (``team_id``; None: the one bot token, so every workspace known)."""
        now = self._clock()
        teams = self._teams.items() if team_id is None else [(team_id, self.team(team_id))]
        for team_id, budgets in teams:
            budget = budgets.for_method(method)
            if budget is None:
                continue
            # many answers see the same 429 at once: extend the pause, never stack it
            key = (team_id, method)
            extra = now + retry_after - max(now, self._paused_until.get(key, 0.0))
            if extra > 0:
                budget.penalize(extra)
                self._paused_until[key] = now + retry_after
