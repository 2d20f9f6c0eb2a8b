"""The replica board: heartbeats, pauses and answers in flight, on both stores.

PostgreSQL is shared by replicas (two stores on one database stand for two
processes); SQLite belongs to one process, which is always alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from dify_bridge.core import Presence
from dify_bridge.store import Store, open_store
from dify_bridge.store.replicas import AnswerInFlight

TTL = 6.0


@contextlib.asynccontextmanager
async def two_processes(url: str) -> AsyncIterator[tuple[Store, Store]]:
    one, other = await open_store(url), await open_store(url)
    try:
        yield one, other
    finally:
        await one.close()
        await other.close()


def answer(key: str, replica: str, platform: str = "slack") -> AnswerInFlight:
    return AnswerInFlight(key, platform, f"{platform}:T1:C1:{key}", replica, f"{platform}:q:{key}")


async def test_replicas_see_each_others_demand_and_pauses(postgres_url: str) -> None:
    async with two_processes(postgres_url) as (one, other):
        await one.replica_board().beat("r1", demand={"slack:T1": 3}, paused={}, ttl=TTL)
        seen = await other.replica_board().beat(
            "r2", demand={}, paused={"slack:T1 chat.update": 30.0}, ttl=TTL
        )
        assert {b.replica_id: dict(b.demand) for b in seen} == {"r1": {"slack:T1": 3}, "r2": {}}
        seen = await one.replica_board().beat("r1", demand={"slack:T1": 1}, paused={}, ttl=TTL)
        (r2,) = [b for b in seen if b.replica_id == "r2"]
        assert 28 < r2.paused["slack:T1 chat.update"] <= 30, "the pause came back as seconds left"
        await other.replica_board().leave("r2")
        seen = await one.replica_board().beat("r1", demand={}, paused={}, ttl=TTL)
        assert [b.replica_id for b in seen] == ["r1"], "a replica that left no longer counts"


async def test_a_replica_that_stops_beating_no_longer_counts(postgres_url: str) -> None:
    async with two_processes(postgres_url) as (one, other):
        await other.replica_board().beat("quiet", demand={}, paused={}, ttl=0.5)
        seen = await one.replica_board().beat("r1", demand={}, paused={}, ttl=0.5)
        assert len(seen) == 2
        await asyncio.sleep(0.7)
        seen = await one.replica_board().beat("r1", demand={}, paused={}, ttl=0.5)
        assert [b.replica_id for b in seen] == ["r1"]


async def test_a_dead_replicas_answers_go_to_exactly_one_survivor(postgres_url: str) -> None:
    async with two_processes(postgres_url) as (one, other):
        board = one.replica_board()
        await board.beat("dead", demand={}, paused={}, ttl=TTL)
        await board.beat("alive", demand={}, paused={}, ttl=TTL)
        await board.save_answers([answer(f"a{n}", "dead") for n in range(20)])
        await board.save_answers([answer("mine", "alive"), answer("d1", "dead", "discord")])
        grown = AnswerInFlight(
            "a0", "slack", "slack:T1:C1:a0", "dead", "slack:q:a0", ("slack:T1:C1:9.1",), "task-9"
        )
        await board.save_answers([grown])
        await board.end_answer("a19")
        late = AnswerInFlight("a19", "slack", "slack:T1:C1:a19", "dead", "", ("slack:T1:C1:9.2",))
        await board.save_answers([late], update_only=True)  # a beat's update after the end
        assert await board.take_orphans(["slack"], TTL) == [], "the dead one beat just now"

        await asyncio.sleep(0.6)
        await board.beat("alive", demand={}, paused={}, ttl=0.5)
        takers = [one.replica_board(), other.replica_board()] * 5
        taken = await asyncio.gather(*(b.take_orphans(["slack"], 0.5) for b in takers))
        keys = sorted(a.answer_key for batch in taken for a in batch)
        assert keys == sorted(f"a{n}" for n in range(19)), "each orphan taken once, none live"
        (first,) = [a for batch in taken for a in batch if a.answer_key == "a0"]
        assert first == grown
        assert await board.take_orphans(["slack"], 0.5) == []
        (discord,) = await board.take_orphans(["discord"], 0.5)
        assert discord.answer_key == "d1", "a platform's answers wait for a replica serving it"


async def test_an_embedded_store_is_always_alone(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/bridge.db")
    try:
        board = store.replica_board()
        assert not board.shared
        seen = await board.beat("me", demand={"slack:T1": 2}, paused={"x y": 5}, ttl=TTL)
        assert [(b.replica_id, dict(b.demand)) for b in seen] == [("me", {"slack:T1": 2})]
        await board.save_answers([answer("a", "me")])
        assert await board.take_orphans(["slack"], 0.0) == []
    finally:
        await store.close()


async def test_shares_follow_demand_and_a_429_reaches_the_other_replica(postgres_url: str) -> None:
    async with two_processes(postgres_url) as (one, other):
        busy = Presence(one.replica_board(), replica_id="busy")
        idle = Presence(other.replica_board(), replica_id="idle")
        demand = {"busy": {"slack:T1": 9}, "idle": {}}
        busy.count_demand_with(lambda: demand["busy"])
        idle.count_demand_with(lambda: demand["idle"])
        heard: list[tuple[str, str, float]] = []
        idle.on_pause(lambda place, method, seconds: heard.append((place, method, seconds)))
        await busy.start()
        await idle.start()
        try:
            await busy.beat()
            assert busy.live_replicas == idle.live_replicas == 2
            assert busy.share("slack:T1") == 0.95 and idle.share("slack:T1") == 0.05
            assert busy.share("slack:T2") == idle.share("slack:T2") == 0.5, "nobody answers there"

            busy.report_pause("slack:T1", "chat.update", 20)
            await busy.beat()
            await idle.beat()
            ((place, method, seconds),) = heard
            assert (place, method) == ("slack:T1", "chat.update") and 18 < seconds <= 20

            await busy.stop()  # gone at once, not after missed beats
            await idle.beat()
            assert idle.live_replicas == 1 and idle.share("slack:T1") == 1.0
        finally:
            await busy.stop()
            await idle.stop()
