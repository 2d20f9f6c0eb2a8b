"""A rate budget shared by every answer that edits messages in one place.

Slack allows about 50 ``chat.update`` calls a minute per workspace, however
many answers stream at once. Per-answer throttles do not add up to that, so
every edit of every live answer takes a token from one :class:`EditBudget`.
Waiters are served final edits first, then in arrival order, so a busy
workspace slows each answer's intermediate updates down evenly and never
drops or starves the last edit of an answer.

The answers that edit through a budget enlist with it, so an answer can see
before its first post how often each of them would be edited
(:meth:`EditBudget.seconds_per_answer`) and grow another way when that is too rarely.

Several replicas of the bridge share one workspace's limit: each runs its
budget at its share of the rate, changed live with :meth:`EditBudget.set_rate`
whenever the replicas' shares change (waiters keep their places).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
import weakref
from collections.abc import Callable


class EditBudget:
    """Token bucket: ``per_minute`` tokens a minute, at most ``burst`` saved up."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self._interval = 60.0 / per_minute
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._wakeup = asyncio.Event()
        self._granter: asyncio.Task[None] | None = None
        self.granted = 0
        self._answers: weakref.WeakSet[object] = weakref.WeakSet()
        """Answers editing through this budget now (weak: one that is dropped unfinished leaves)."""
        self._whole_interval: float | None = None
        self._elsewhere = 0

    def enlist(self, answer: object) -> None:
        """``answer`` will edit through this budget until it leaves."""
        self._answers.add(answer)

    def leave(self, answer: object) -> None:
        self._answers.discard(answer)

    def seconds_per_answer(self, *, joining: bool = False) -> float:
        """Seconds between two edits of each enlisted answer (one more when ``joining``)
        if all of them keep editing: the budget's pace shared out (with replicas, the
        whole deployment's pace among every answer there, see :meth:`shared_by`)."""
        answers = len(self._answers) + joining
        if self._whole_interval is None:
            return self._interval * answers
        return self._whole_interval * (answers + self._elsewhere)

    def shared_by(self, whole_per_minute: float | None, answers_elsewhere: int = 0) -> None:
        """Replicas share the limit this budget is a share of: ``whole_per_minute`` for
        all of them, and ``answers_elsewhere`` live on the others. This replica's share
        lags its own demand by a heartbeat (a new answer on an idle replica starts on a
        trickle), so how crowded an answer is comes from the whole deployment. None:
        this replica is alone again, its own pace is the whole."""
        self._whole_interval = None if whole_per_minute is None else 60.0 / whole_per_minute
        self._elsewhere = max(0, answers_elsewhere)

    async def acquire(self, *, final: bool = False) -> None:
        """Wait for a token. Final edits go ahead of intermediate ones."""
        self._refill()
        if not self._waiters and self._tokens >= 1:
            self._tokens -= 1
            self.granted += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (0 if final else 1, next(self._order), future))
        if self._granter is None or self._granter.done():
            self._granter = asyncio.create_task(self._grant_loop(), name="edit-budget")
        self._wakeup.set()
        await future

    def try_acquire(self) -> bool:
        """Take a token only if one is free now and nobody waits for one; never waits."""
        self._refill()
        if self._waiters or self._tokens < 1:
            return False
        self._tokens -= 1
        self.granted += 1
        return True

    def penalize(self, seconds: float) -> None:
        """The platform said 429: hand out nothing for ``seconds``."""
        self._refill()
        self._tokens = min(self._tokens, 0.0) - seconds / self._interval

    @property
    def per_minute(self) -> float:
        return 60.0 / self._interval

    @property
    def burst(self) -> int:
        """Tokens it saves up: how many calls may go at once."""
        return int(self._burst)

    def set_rate(self, per_minute: float, *, burst: int | None = None) -> None:
        """Hand out ``per_minute`` tokens a minute from now on (and save up at most
        ``burst``, if given). Tokens earned so far are kept, a pause still lasts as
        long, and every waiter keeps its place."""
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self._refill()
        interval = 60.0 / per_minute
        if self._tokens < 0:  # a pause is time, not tokens: the same seconds at the new rate
            self._tokens *= self._interval / interval
        self._interval = interval
        if burst is not None:
            self._burst = float(max(1, burst))
            self._tokens = min(self._tokens, self._burst)
        self._wakeup.set()  # the grant loop waits by the old rate: let it look again

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) / self._interval)
        self._stamp = now

    async def _grant_loop(self) -> None:
        while self._waiters:
            self._refill()
            if self._tokens < 1:
                delay = (1 - self._tokens) * self._interval
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
                continue
            _, _, future = heapq.heappop(self._waiters)
            if future.done():  # the waiter was cancelled
                continue
            self._tokens -= 1
            self.granted += 1
            future.set_result(None)


__all__ = [
    "EditBudget",
]
