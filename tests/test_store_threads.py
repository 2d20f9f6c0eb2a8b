"""Followed threads and a channel's latest thread, kept in the store so replicas share them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from dify_bridge.core.types import ThreadRecord
from dify_bridge.store import Store, open_store
from dify_bridge.store.schema import channel_of

KEY = "slack:T1:C1:1700.1"


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    store = await open_store(url)
    try:
        yield store
    finally:
        await store.close()


def followed(key: str = KEY, app: str = "sales") -> ThreadRecord:
    return ThreadRecord(key, "", key, app)


async def test_a_won_claim_follows_its_thread_before_dify_names_a_conversation(
    database_url: str,
) -> None:
    async with opened(database_url) as store:
        assert await store.claim_events(["ev-1"], thread=followed())
        assert await store.get_thread(KEY) == followed(), "followed, no conversation yet"
        named = ThreadRecord(KEY, "conv-1", KEY, "sales")
        await store.save_thread(named)
        assert await store.get_thread(KEY) == named
    async with opened(database_url) as store:  # another replica, or after a restart
        assert await store.get_thread(KEY) == named


async def test_a_claim_never_overwrites_a_thread_it_finds(database_url: str) -> None:
    async with opened(database_url) as store:
        named = ThreadRecord(KEY, "conv-1", "the first user", "sales")
        await store.save_thread(named)
        other = ThreadRecord(KEY, "", "someone else", "support")
        assert await store.claim_events(["ev-1"], thread=other)
        assert await store.claim_events([], thread=other)
        assert await store.get_thread(KEY) == named


async def test_a_lost_claim_follows_nothing(database_url: str) -> None:
    async with opened(database_url) as store:
        assert await store.claim_events(["ev-1", "C1:1.0"])
        assert not await store.claim_events(["ev-2", "C1:1.0"], thread=followed())
        assert await store.get_thread(KEY) is None
        assert await store.claim_events(["ev-2"]), "the lost claim recorded no key"


async def test_of_concurrent_claims_with_a_thread_one_wins_and_writes_the_one_row(
    database_url: str,
) -> None:
    async with opened(database_url) as one, opened(database_url) as other:
        stores = [one, other] * 10
        claims = await asyncio.gather(
            *(
                s.claim_events(["ev-1", "C1:1700.1"], thread=followed(app=f"app-{n}"))
                for n, s in enumerate(stores)
            )
        )
        assert claims.count(True) == 1, f"{claims.count(True)} deliveries were answered"
        winner = claims.index(True)
        assert await other.get_thread(KEY) == followed(app=f"app-{winner}")


async def test_latest_thread_is_the_most_recently_updated_of_its_channel(
    database_url: str,
) -> None:
    async with opened(database_url) as store:
        assert await store.latest_thread("slack:T1:C1") is None
        first = ThreadRecord("slack:T1:C1:1.0", "conv-1", "slack:T1:C1:1.0")
        second = ThreadRecord("slack:T1:C1:2.0", "conv-2", "slack:T1:C1:2.0")
        elsewhere = ThreadRecord("slack:T1:C2:3.0", "conv-3", "slack:T1:C2:3.0")
        for record in (first, second, elsewhere):
            await store.save_thread(record)
            await asyncio.sleep(0.01)
        assert await store.latest_thread("slack:T1:C1") == second
        assert await store.latest_thread("slack:T1:C2") == elsewhere
        # a new message in the first thread makes it the latest again
        assert await store.claim_events(["ev-1"], thread=followed(first.thread_key))
        assert await store.latest_thread("slack:T1:C1") == first
        await store.forget_thread(first.thread_key)
        assert await store.latest_thread("slack:T1:C1") == second
        assert await store.latest_thread("slack:T1") is None, "a channel, not a prefix"
        # a thread followed from a mention, before Dify named its conversation
        assert await store.claim_events(["ev-2"], thread=followed("slack:T1:C1:9.0"))
        assert await store.latest_thread("slack:T1:C1") == second, "not the empty newcomer"


def test_a_threads_channel_is_its_key_without_the_last_part() -> None:
    assert channel_of("slack:T1:C1:1700.1") == "slack:T1:C1"
    assert channel_of("slack:T1:D1:dm") == "slack:T1:D1"
    assert channel_of("discord:111:222") == "discord:111"
    assert channel_of("discord:dm:222") == "discord:dm"
    assert channel_of("t1") == "", "not a bridge key: no channel"
