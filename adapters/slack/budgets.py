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

Replicas sharing a PostgreSQL store share these budgets too (:meth:`WorkspaceBudgets.follow`):
after each heartbeat of the engine's :class:`~dify_bridge.core.Presence`, every
budget of a workspace runs at this replica's share of the rate (and of the
burst), so the whole deployment stays under the tier; a 429 seen here is
reported with the heartbeat and pauses that method on the other replicas too.
Nothing here waits for the database: a Slack call only takes a token.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from dify_bridge.core import BoundedDict, EditBudget, Presence

__all__ = ["TIER_PER_MINUTE", "TeamBudgets", "WorkspaceBudgets", "place"]

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


class OpenStreams(Protocol):
    """An answer's messages still streaming (weakly held: a dropped answer counts none)."""

    @property
    def open_streams(self) -> int: ...


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

    _streamers: weakref.WeakSet[OpenStreams] = field(
        default_factory=weakref.WeakSet, init=False, repr=False
    )

    def room_for_a_stream(self, answer: OpenStreams) -> bool:
        """True while fewer streams are open than ``chat.stopStream`` can end at once:
        a stream started beyond that would wait for its stop long after its last word."""
        self._streamers.add(answer)
        return sum(s.open_streams for s in self._streamers) < self.stop.burst

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
        self._presence: Presence | None = None

    def follow(self, presence: Presence) -> None:
        """Run at this replica's share of each workspace's rate, re-rated on each heartbeat."""
        self._presence = presence
        presence.on_change(self._rescale)
        presence.on_pause(self._paused_elsewhere)

    def rate(self, team_id: str, method: str) -> tuple[float, int]:
        """Calls a minute and burst this replica allows itself now for ``method``."""
        share = 1.0 if self._presence is None else self._presence.share(place(team_id))
        burst = max(1, round(BURSTS[method] * share))
        return self._per_minute[method] * share / self._scale, burst

    def _budget(self, team_id: str, method: str) -> EditBudget:
        per_minute, burst = self.rate(team_id, method)
        budget = EditBudget(per_minute, burst=burst, clock=self._clock)
        self._count_others(team_id, method, budget)
        return budget

    def _count_others(self, team_id: str, method: str, budget: EditBudget) -> None:
        """How crowded the workspace is follows every replica's answers, not this share."""
        if self._presence is None or self._presence.live_replicas <= 1:
            budget.shared_by(None)
        else:
            elsewhere = self._presence.demand_elsewhere(place(team_id))
            budget.shared_by(self._per_minute[method] / self._scale, elsewhere)

    def _rescale(self) -> None:
        for team_id, budgets in self._teams.items():
            for method in self._per_minute:
                budget = budgets.for_method(method)
                if budget is None:
                    continue
                per_minute, burst = self.rate(team_id, method)
                if abs(budget.per_minute - per_minute) > 1e-9:
                    budget.set_rate(per_minute, burst=burst)
                self._count_others(team_id, method, budget)

    def team(self, team_id: str) -> TeamBudgets:
        budgets = self._teams.get(team_id)
        if budgets is None:
            budgets = self._teams[team_id] = TeamBudgets(
                update=self._budget(team_id, "chat.update"),
                start=self._budget(team_id, "chat.startStream"),
                stop=self._budget(team_id, "chat.stopStream"),
                append=self._budget(team_id, "chat.appendStream"),
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
        (``team_id``; None: the one bot token, so every workspace known), and, from the
        next heartbeat, on every other replica."""
        teams = list(self._teams) if team_id is None else [team_id]
        for team in teams:
            self.team(team)
            if self._pause(team, method, retry_after) and self._presence is not None:
                self._presence.report_pause(place(team), method, retry_after)

    def _paused_elsewhere(self, where: str, method: str, seconds: float) -> None:
        platform, _, team_id = where.partition(":")
        if platform == "slack" and team_id in self._teams:
            self._pause(team_id, method, seconds)

    def _pause(self, team_id: str, method: str, seconds: float) -> bool:
        """Pause ``method`` for ``seconds``; False if it was paused that long already."""
        budget = self._teams[team_id].for_method(method)
        if budget is None:
            return False
        # many answers see the same 429 at once: extend the pause, never stack it
        now = self._clock()
        key = (team_id, method)
        extra = now + seconds - max(now, self._paused_until.get(key, 0.0))
        if extra <= 0:
            return False
        budget.penalize(extra)
        self._paused_until[key] = now + seconds
        return True


def place(team_id: str) -> str:
    """The presence's name of a workspace's budgets (as :func:`core.presence.place_of`)."""
    return f"slack:{team_id}"
