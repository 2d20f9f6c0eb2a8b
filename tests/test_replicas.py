"""Several bridge replicas on one PostgreSQL database behave as one bridge."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from dify_bridge.ops.runtime import Runtime
from tests.fakes.dify import FakeDify

from .pg import PostgresCluster
from .support import RecordingSink, incoming, running_bridge


@dataclass
class TurnsInFlight:
    """Counts answers being written in one thread, across every replica's sink."""

    now: int = 0
    most: int = 0

    def sink(self) -> RecordingSink:
        return _CountingSink(counter=self)


@dataclass
class _CountingSink(RecordingSink):
    counter: TurnsInFlight | None = None

    async def show_thinking(self) -> None:
        assert self.counter is not None
        self.counter.now += 1
        self.counter.most = max(self.counter.most, self.counter.now)
        await super().show_thinking()

    async def clear_thinking(self) -> None:
        assert self.counter is not None
        self.counter.now -= 1
        await super().clear_thinking()


@contextlib.asynccontextmanager
async def two_replicas(dify: FakeDify, database_url: str) -> AsyncIterator[tuple[Runtime, ...]]:
    async with (
        running_bridge(dify.url, database_url) as one,
        running_bridge(dify.url, database_url) as other,
    ):
        yield one, other


async def test_an_event_given_to_both_replicas_is_answered_once(
    fake_dify: FakeDify, postgres_url: str
) -> None:
    fake_dify.chunk_delay = 0.01
    sinks = [RecordingSink() for _ in range(10)]
    async with two_replicas(fake_dify, postgres_url) as replicas:
        await asyncio.gather(
            *(
                replicas[n % 2].bridge.handle_message(incoming("t1", "hi", event="ev-1"), sink)
                for n, sink in enumerate(sinks)
            )
        )
    assert len(fake_dify.chat_requests) == 1
    assert sum(1 for sink in sinks if sink.messages) == 1, "exactly one replica answered"


async def test_turns_alternating_between_replicas_stay_in_order_one_at_a_time(
    fake_dify: FakeDify, postgres_url: str
) -> None:
    for n in range(12):
        fake_dify.script(["Answer ", "number ", f"{n} ", "in ", "order."], delay=0.03)
    in_flight = TurnsInFlight()
    turns: list[asyncio.Task[None]] = []
    async with two_replicas(fake_dify, postgres_url) as replicas:
        for n in range(6):
            replica = replicas[n % 2]
            turns.append(
                asyncio.create_task(
                    replica.bridge.handle_message(incoming("t1", f"turn {n}"), in_flight.sink())
                )
            )
            # the next message arrives while this one is being answered by the other replica
            async with asyncio.timeout(10):
                await fake_dify.wait_until(lambda n=n: len(fake_dify.chat_requests) == n + 1)
        await asyncio.gather(*turns)
        burst = [
            replicas[n % 2].bridge.handle_message(incoming("t1", f"burst {n}"), in_flight.sink())
            for n in range(6)
        ]
        await asyncio.gather(*burst)
    queries = [r["query"] for r in fake_dify.chat_requests]
    assert queries[:6] == [f"turn {n}" for n in range(6)]
    assert sorted(queries[6:]) == [f"burst {n}" for n in range(6)]
    assert in_flight.most == 1, "two replicas answered in one thread at the same time"
    (conversation,) = fake_dify.conversations.values()
    assert len(conversation.messages) == 12, "the thread stayed one conversation"


async def test_a_replica_whose_connection_dies_mid_turn_frees_the_thread(
    fake_dify: FakeDify, postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    database = postgres_url.split("/")[3].split("?")[0]
    fake_dify.script([f"w{i} " for i in range(100)], delay=0.05)  # about 5 s
    slow, quick = RecordingSink(), RecordingSink()
    async with two_replicas(fake_dify, postgres_url) as (one, other):
        first = asyncio.create_task(one.bridge.handle_message(incoming("t1", "slow"), slow))
        async with asyncio.timeout(10):
            await fake_dify.wait_until(lambda: bool(slow.messages))
        second = asyncio.create_task(other.bridge.handle_message(incoming("t1", "next"), quick))
        await asyncio.sleep(0.3)
        assert len(fake_dify.chat_requests) == 1, "the other replica waits for the thread"
        killed = postgres_cluster.psql(
            "SELECT pg_terminate_backend(pid) FROM pg_locks"
            " WHERE locktype = 'advisory' AND granted",
            database,
        )
        assert killed == "t"
        async with asyncio.timeout(4):
            await second
        assert not first.done(), "the next turn did not wait for the dead session"
        assert "next" in quick.visible
        await asyncio.wait_for(first, 15)
    assert slow.visible == "".join(f"w{i} " for i in range(100)), "the first answer still ends"


HOLD_LOCK = """
import asyncio, sys
from dify_bridge.store import open_store

async def main():
    store = await open_store(sys.argv[1])
    async with store.thread_lock("t1"):
        print("locked", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_a_replica_that_dies_frees_its_threads(postgres_url: str) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LOCK, postgres_url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        async with asyncio.timeout(30):
            assert await holder.stdout.readline() == b"locked\n"
        async with running_bridge("http://127.0.0.1:9/v1", postgres_url) as replica:
            waiting = asyncio.create_task(_enter(replica, "t1"))
            await asyncio.sleep(0.3)
            assert not waiting.done(), "the thread is held by the other process"
            holder.send_signal(signal.SIGKILL)
            await asyncio.wait_for(waiting, 10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            holder.kill()
        await holder.wait()


async def _enter(runtime: Runtime, thread_key: str) -> None:
    async with runtime.store.thread_lock(thread_key):
        pass
