"""A workspace's budgets across replicas: shares of the rate, and 429 pauses passed on.

Two presences on one PostgreSQL stand for two processes; each has its own
:class:`WorkspaceBudgets`, as each process has.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from dify_bridge.adapters.slack.budgets import BURSTS, TIER_PER_MINUTE, WorkspaceBudgets
from dify_bridge.core import Presence
from dify_bridge.store import open_store


@contextlib.asynccontextmanager
async def two_replicas(url: str) -> AsyncIterator[tuple[Presence, Presence]]:
    one, other = await open_store(url), await open_store(url)
    first = Presence(one.replica_board(), replica_id="first")
    second = Presence(other.replica_board(), replica_id="second")
    try:
        await first.start()
        await second.start()
        await first.beat()
        yield first, second
    finally:
        await first.stop()
        await second.stop()
        await one.close()
        await other.close()


async def test_each_replica_runs_at_its_share_and_gets_the_whole_rate_back(
    postgres_url: str,
) -> None:
    async with two_replicas(postgres_url) as (first, second):
        budgets, others = WorkspaceBudgets(45), WorkspaceBudgets(45)
        budgets.follow(first)
        others.follow(second)
        update = budgets.team("T1").update
        assert update.per_minute == 22.5, "two replicas, nobody answering: half each"
        assert budgets.team("T1").append.per_minute == TIER_PER_MINUTE["chat.appendStream"] / 2
        assert budgets.rate("T1", "chat.update") == (22.5, round(BURSTS["chat.update"] / 2))

        await second.stop()  # the other replica leaves
        await first.beat()
        assert update.per_minute == 45, "the whole rate is back after one beat"


async def test_a_429_seen_by_one_replica_pauses_the_method_on_the_other(
    postgres_url: str,
) -> None:
    async with two_replicas(postgres_url) as (first, second):
        budgets, others = WorkspaceBudgets(45), WorkspaceBudgets(45)
        budgets.follow(first)
        others.follow(second)
        assert others.team("T1").update.try_acquire()
        assert others.team("T1").start.try_acquire()

        budgets.team("T1")
        budgets.on_rate_limited("chat.update", 30)
        await first.beat()
        await second.beat()
        assert not others.team("T1").update.try_acquire(), "the pause reached the other replica"
        assert others.team("T1").stop.try_acquire(), "only the method that saw the 429"
