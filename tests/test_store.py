"""Both stores keep the same promises: mappings, answers, exactly-once events, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dify_bridge.core.types import MessageRecord, ThreadRecord
from dify_bridge.errors import StoreError
from dify_bridge.store import Store, open_store
from dify_bridge.store.schema import SCHEMA_VERSION

from .pg import PostgresCluster


@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[Store]:
    store = await open_store(url)
    try:
        yield store
    finally:
        await store.close()


async def test_a_thread_mapping_round_trips_and_can_be_replaced(database_url: str) -> None:
    async with opened(database_url) as store:
        assert await store.get_thread("slack:T1:C1:1.0") is None
        first = ThreadRecord("slack:T1:C1:1.0", "conv-1", "slack:T1:C1:1.0", "sales")
        await store.save_thread(first)
        assert await store.get_thread("slack:T1:C1:1.0") == first
        second = ThreadRecord("slack:T1:C1:1.0", "conv-2", "slack:T1:C1:1.0", "sales")
        await store.save_thread(second)
        assert await store.get_thread("slack:T1:C1:1.0") == second
        await store.forget_thread("slack:T1:C1:1.0")
        assert await store.get_thread("slack:T1:C1:1.0") is None


async def test_answer_messages_point_to_their_dify_message(database_url: str) -> None:
    parts = [MessageRecord(f"slack:C1:{n}", "msg-1", "user-1", "thread-1") for n in range(3)]
    async with opened(database_url) as store:
        await store.save_messages(parts)
        await store.save_messages([])
        assert await store.get_message("slack:C1:2") == parts[2]
        assert await store.get_message("slack:C1:9") is None
        edited = MessageRecord("slack:C1:2", "msg-2", "user-1", "thread-1", "sales")
        await store.save_messages([edited])
        assert await store.get_message("slack:C1:2") == edited


async def test_of_fifty_deliveries_of_one_event_exactly_one_wins(database_url: str) -> None:
    async with opened(database_url) as one, opened(database_url) as other:
        stores = [one, other] * 25  # two processes' worth of connections
        claims = await asyncio.gather(*(s.claim_events(["ev-1", "C1:1.0"]) for s in stores))
        assert claims.count(True) == 1, f"{claims.count(True)} deliveries were answered"
        assert await one.claim_events(["ev-2", "C1:2.0"])


async def test_an_event_seen_under_any_of_its_keys_is_a_redelivery(database_url: str) -> None:
    async with opened(database_url) as store:
        assert await store.claim_events(["ev-1", "C1:1.0"])
        assert not await store.claim_events(["ev-2", "C1:1.0"]), "same message, other event id"
        assert await store.claim_events(["ev-2"]), "a refused claim records nothing"
        assert await store.claim_events([])


async def test_event_keys_expire_after_their_ttl(database_url: str) -> None:
    async with opened(database_url) as store:
        assert await store.claim_events(["ev-1"], ttl=0.3)
        assert not await store.claim_events(["ev-1"], ttl=0.3)
        await asyncio.sleep(0.5)
        assert await store.claim_events(["ev-1"], ttl=60), "an expired key can be claimed again"
        assert not await store.claim_events(["ev-1"])


async def test_everything_survives_a_restart(database_url: str) -> None:
    async with opened(database_url) as store:
        await store.save_thread(ThreadRecord("t1", "conv-1", "user-1"))
        await store.save_messages([MessageRecord("m1", "msg-1", "user-1", "t1")])
        assert await store.claim_events(["ev-1"])
    async with opened(database_url) as store:
        assert await store.get_thread("t1") == ThreadRecord("t1", "conv-1", "user-1")
        assert await store.get_message("m1") == MessageRecord("m1", "msg-1", "user-1", "t1")
        assert not await store.claim_events(["ev-1"]), "a redelivery after a restart"


async def test_thread_locks_of_other_threads_do_not_wait(database_url: str) -> None:
    async with opened(database_url) as store, store.thread_lock("t1"), store.thread_lock("t2"):
        await store.claim_events(["inside two locks"])


# -- SQLite only --


async def test_sqlite_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    async with opened(f"sqlite:///{tmp_path / 'b.db'}") as store:
        await store.save_thread(ThreadRecord("t1", "conv-1", "user-1"))
        modes = file_modes(tmp_path)
    assert modes == {"b.db": 0o600, "b.db-shm": 0o600, "b.db-wal": 0o600}


async def test_sqlite_in_a_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        await open_store(f"sqlite:///{tmp_path / 'nowhere' / 'b.db'}")
    message = str(caught.value)
    assert "does not exist" in message and "nowhere" in message and "\n" not in message


def file_modes(folder: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}


def remove_side_files(db: Path) -> None:
    for side in db.parent.glob(db.name + "-*"):
        side.unlink()


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` unwritable, also for root (immutable attribute) where that is possible."""
    if os.geteuid() != 0:
        path.chmod(0o400)
        yield
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], check=False).returncode:
        pytest.skip("running as root on a file system without the immutable attribute")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


async def test_a_read_only_sqlite_file_is_one_clear_line(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    async with opened(f"sqlite:///{db}"):
        pass
    remove_side_files(db)
    with read_only(db), pytest.raises(StoreError) as caught:
        await open_store(f"sqlite:///{db}")
    message = str(caught.value)
    assert "no permission" in message and str(db) in message and "\n" not in message


# -- PostgreSQL only --


async def test_postgres_schema_is_versioned_and_replicas_may_start_together(
    postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    stores = await asyncio.gather(*(open_store(postgres_url) for _ in range(4)))
    for store in stores:
        await store.close()
    database = postgres_url.split("/")[3].split("?")[0]
    version = postgres_cluster.psql("SELECT version FROM schema_version", database)
    assert version == str(SCHEMA_VERSION)
    async with opened(postgres_url):
        pass


async def test_an_unreachable_postgres_is_one_line_without_the_password(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    missing_db = postgres_cluster.url("no_such_db").replace("bridge@", "bridge:s3cret@")
    no_server = f"postgresql://bridge:s3cret@/db?host={tmp_path}&port=1"
    for url in (missing_db, no_server):
        with pytest.raises(StoreError) as caught:
            await open_store(url)
        message = str(caught.value)
        assert "s3cret" not in message and "\n" not in message
        assert message.startswith("cannot use the database postgresql://bridge:***@"), message
    assert "no_such_db" in str(caught.value) or "No such file" in str(caught.value)


async def test_a_thread_lock_spans_replicas(postgres_url: str) -> None:
    async with opened(postgres_url) as one, opened(postgres_url) as other:
        async with one.thread_lock("t1"):
            waiting = asyncio.create_task(_hold(other, "t1"))
            async with other.thread_lock("t2"):
                pass  # another thread is not held up
            await asyncio.sleep(0.3)
            assert not waiting.done(), "the other replica entered a locked thread"
        await asyncio.wait_for(waiting, 5)


async def test_a_dead_connection_frees_its_thread_lock(
    postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    database = postgres_url.split("/")[3].split("?")[0]
    async with opened(postgres_url) as one, opened(postgres_url) as other:
        async with one.thread_lock("t1"):
            waiting = asyncio.create_task(_hold(other, "t1"))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            killed = postgres_cluster.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted",
                database,
            )
            assert killed == "t", "exactly one session held the lock"
            started = time.monotonic()
            await asyncio.wait_for(waiting, 5)
            assert time.monotonic() - started < 5
        # leaving the lock of a dead session is not an error; the store keeps working
        async with one.thread_lock("t1"):
            await one.save_thread(ThreadRecord("t1", "conv-1", "user-1"))


async def test_many_turns_of_one_replica_hold_their_thread_locks_at_once(
    postgres_url: str, postgres_cluster: PostgresCluster
) -> None:
    """Sixty threads answered at once in one replica: none waits for a connection of its own."""
    database = postgres_url.split("/")[3].split("?")[0]
    threads = [f"t{n}" for n in range(60)]
    async with opened(postgres_url) as one, opened(postgres_url) as other:
        async with contextlib.AsyncExitStack() as held:
            for key in threads:
                await asyncio.wait_for(held.enter_async_context(one.thread_lock(key)), 5)
            locks = postgres_cluster.psql(
                "SELECT count(*), count(DISTINCT pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted",
                database,
            )
            assert locks == "60|1", "every lock held, on one connection"
            waiting = asyncio.create_task(_hold(other, "t7"))
            await asyncio.sleep(0.3)
            assert not waiting.done(), "another replica entered a thread held here"
        await asyncio.wait_for(waiting, 5)


async def _hold(store: Store, thread_key: str) -> None:
    async with store.thread_lock(thread_key):
        pass
