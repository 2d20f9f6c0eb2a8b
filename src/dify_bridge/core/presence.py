"""This replica among the others: a heartbeat, a share of each shared budget, shared pauses.

Slack limits calls per workspace, not per process, so replicas serving one
workspace must split its budgets. Every :data:`HEARTBEAT_SECONDS` this
replica writes one row (the store's :class:`~dify_bridge.store.replicas.ReplicaBoard`)
with the answers it streams per place and the 429 pauses it saw, and reads
back every live replica's row in the same round trip. From those it computes
its share of each place's budgets; the adapters' budgets are re-rated on each
beat (:meth:`Presence.on_change`), so no Slack call waits for the database.

A place's share follows demand: each replica weighs its live answers there
plus half an answer (so an idle replica keeps a trickle and a new answer is
never starved until the next beat); with no answers anywhere it is an even
split. A replica missing :data:`EXPIRY_BEATS` beats counts as dead, and its
share returns to the others at their next beat. A 429 one replica saw pauses
that method on every replica within a beat.

With an embedded store (SQLite, one process) there is no loop: the replica is
alone and every share is whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

from dify_bridge.core.keepalive import loop_step
from dify_bridge.errors import StoreError
from dify_bridge.ops.metrics import Metrics
from dify_bridge.store.replicas import ReplicaBeat, ReplicaBoard

__all__ = ["EXPIRY_BEATS", "HEARTBEAT_SECONDS", "IDLE_WEIGHT", "Presence", "place_of"]

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
EXPIRY_BEATS = 3
"""Beats a replica may miss before it counts as dead (its shares and answers are taken)."""
IDLE_WEIGHT = 0.5
"""What a replica weighs in a place beside its live answers there."""


def place_of(thread_key: str) -> str:
    """The place whose budgets a thread's answers use: its platform and first part
    (``slack:T1:C1:1.2`` → ``slack:T1``, one Slack workspace)."""
    platform, _, rest = thread_key.partition(":")
    return f"{platform}:{rest.partition(':')[0]}"


class Presence:
    def __init__(
        self,
        board: ReplicaBoard,
        *,
        metrics: Metrics | None = None,
        interval: float = HEARTBEAT_SECONDS,
        replica_id: str = "",
    ) -> None:
        self.replica_id = (
            replica_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        )
        self.interval = interval
        self._board = board
        self._metrics = metrics
        self._peers: list[ReplicaBeat] = []
        self._demand: Callable[[], Mapping[str, int]] = dict
        self._pauses: dict[str, float] = {}
        """``place method`` → monotonic end of a pause this replica saw."""
        self._changed: list[Callable[[], None]] = []
        self._paused_elsewhere: list[Callable[[str, str, float], None]] = []
        self._after_beat: list[Callable[[], Awaitable[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._work: asyncio.Task[None] | None = None
        self._live = 1
        self._last_ok: float | None = None
        """Monotonic time of the last beat the store took (None: the last one failed)."""
        self._steady_since: float | None = None
        """Start of this replica's unbroken run of beats (none missed)."""

    @property
    def shared(self) -> bool:
        return self._board.shared

    @property
    def beating(self) -> bool:
        """True between :meth:`start` and :meth:`stop` on a shared store while the last
        beat reached the store (a row says this replica lives)."""
        return self._task is not None and self._last_ok is not None

    @property
    def steady(self) -> bool:
        """True once this replica has beaten for :attr:`ttl` without missing a beat: only
        then does another replica's missing row mean it died, not that the database
        (or this replica) was away for a while."""
        since = self._steady_since
        return since is not None and time.monotonic() - since >= self.ttl

    @property
    def live_replicas(self) -> int:
        return self._live

    @property
    def ttl(self) -> float:
        return self.interval * EXPIRY_BEATS

    def share(self, place: str) -> float:
        """This replica's part (0-1] of ``place``'s budgets."""
        if len(self._peers) <= 1:
            return 1.0
        demands = [peer.demand.get(place, 0) for peer in self._peers]
        if not any(demands):
            return 1.0 / len(self._peers)
        mine = next(
            (p.demand.get(place, 0) for p in self._peers if p.replica_id == self.replica_id), 0
        )
        return (mine + IDLE_WEIGHT) / (sum(demands) + IDLE_WEIGHT * len(self._peers))

    def demand_elsewhere(self, place: str) -> int:
        """Live answers in ``place`` on the other replicas, as their last beats said."""
        return sum(p.demand.get(place, 0) for p in self._peers if p.replica_id != self.replica_id)

    def count_demand_with(self, demand: Callable[[], Mapping[str, int]]) -> None:
        """``demand()``: this replica's live answers per place, read at each beat."""
        self._demand = demand

    def on_change(self, callback: Callable[[], None]) -> None:
        """``callback()`` after each beat: shares may have changed."""
        self._changed.append(callback)

    def on_pause(self, callback: Callable[[str, str, float], None]) -> None:
        """``callback(place, method, seconds)``: another replica saw a 429."""
        self._paused_elsewhere.append(callback)

    def after_beat(self, work: Callable[[], Awaitable[None]]) -> None:
        """``await work()`` after a beat, in a task of its own (slow platform calls never
        delay a heartbeat); skipped while the previous beat's work still runs."""
        self._after_beat.append(work)

    def report_pause(self, place: str, method: str, seconds: float) -> None:
        """A 429 seen here: the others pause ``method`` in ``place`` from the next beat."""
        key = f"{place} {method}"
        until = time.monotonic() + seconds
        self._pauses[key] = max(self._pauses.get(key, 0.0), until)

    async def start(self) -> None:
        """The first beat now (before any answer), then one every ``interval`` seconds."""
        if not self.shared or self._task is not None:
            return
        await self.beat()
        self._task = asyncio.create_task(self._loop(), name="replica-heartbeat")

    async def stop(self) -> None:
        """No more beats, and this replica's row goes: its shares return at once."""
        task, self._task = self._task, None
        if task is None:
            return
        for running in (task, self._work):
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        try:
            await self._board.leave(self.replica_id)
        except StoreError as exc:
            log.warning("could not remove this replica's heartbeat: %s", exc)

    async def beat(self) -> None:
        """One heartbeat. Never raises: a heartbeat that stopped would make this replica
        dead to the others while it answers (they would mark its answers interrupted)."""
        if not await loop_step(self._renewed, f"heartbeat of replica {self.replica_id}"):
            return
        # a bug in a budget's re-rating: the work after the beat still runs
        await loop_step(self._tell, f"what follows the heartbeat of replica {self.replica_id}")
        if self._after_beat and (self._work is None or self._work.done()):
            self._work = asyncio.create_task(self._run_after_beat(), name="after-heartbeat")

    async def _renewed(self) -> bool:
        try:
            await self._renew()
        except StoreError as exc:
            # the shares stay as they were; a replica that cannot beat is soon dead to others
            log.warning("heartbeat failed: %s", exc)
            self._last_ok = self._steady_since = None
            return False
        return True

    async def _renew(self) -> None:
        now = time.monotonic()
        self._pauses = {k: until for k, until in self._pauses.items() if until > now}
        peers = await self._board.beat(
            self.replica_id,
            demand=dict(self._demand()),
            paused={k: until - now for k, until in self._pauses.items()},
            ttl=self.ttl,
        )
        done = time.monotonic()
        if self._last_ok is None or done - self._last_ok > 2 * self.interval:
            self._steady_since = done  # a beat was missed: the others' ages say nothing yet
        self._last_ok = done
        self._peers = peers
        if len(peers) != self._live:
            log.info("live replicas: %d (this one is %s)", len(peers), self.replica_id)
        self._live = max(1, len(peers))
        if self._metrics is not None:
            self._metrics.live_replicas.set(self._live)

    async def _tell(self) -> None:
        """Pauses the others saw, then the new shares, to whoever follows them."""
        for peer in self._peers:
            if peer.replica_id == self.replica_id:
                continue
            for key, seconds in peer.paused.items():
                place, _, method = key.partition(" ")
                for callback in self._paused_elsewhere:
                    callback(place, method, seconds)
        for changed in self._changed:
            changed()

    async def _run_after_beat(self) -> None:
        for work in self._after_beat:
            await loop_step(work, "work after a heartbeat")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.beat()
