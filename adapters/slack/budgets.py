"""One edit budget per Slack workspace, paused workspace-wide when Slack says 429."""

from __future__ import annotations

import time
from collections.abc import Callable

from dify_bridge.core import EditBudget

__all__ = ["WorkspaceBudgets"]


class WorkspaceBudgets:
    """``chat.update`` is limited per workspace, so all answers in one share a budget."""

    def __init__(
        self, edits_per_minute: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_minute = edits_per_minute
        self._clock = clock
        self._budgets: dict[str, EditBudget] = {}
        self._paused_until: dict[str, float] = {}

    def for_team(self, team_id: str) -> EditBudget:
        budget = self._budgets.get(team_id)
        if budget is None:
            budget = self._budgets[team_id] = EditBudget(self._per_minute, clock=self._clock)
        return budget

    def on_rate_limited(self, method: str, retry_after: float) -> None:
        """A 429 on chat.update pauses every answer's edits (one bot token, one workspace)."""
        if method != "chat.update":
            return
        now = self._clock()
        for team_id, budget in self._budgets.items():
            # many answers see the same 429 at once: extend the pause, never stack it
            extra = now + retry_after - max(now, self._paused_until.get(team_id, 0.0))
            if extra > 0:
                budget.penalize(extra)
                self._paused_until[team_id] = now + retry_after
