"""The store under a full table: lookups and upserts with 100,000 mapped threads.

``python -m bench.store [--database-url URL] [--threads 100000] [--ops 10000]``

Fills the store with ``--threads`` thread mappings, then runs an even mix of
``get_thread`` (a random mapped thread) and ``save_thread`` (half re-map a
known thread, half map a new one), once one call at a time and once from 32
concurrent callers, and ``claim_events`` (every incoming event pays one).
Without ``--database-url`` it uses a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import percentile, print_json
from dify_bridge.core.types import ThreadRecord
from dify_bridge.errors import BridgeError
from dify_bridge.store import Store, open_store

CONCURRENCY = 32


def thread_key(n: int) -> str:
    return f"slack:T0BENCH:C{n % 500:05d}:{1_700_000_000 + n}.000100"


async def fill(store: Store, database_url: str, threads: int) -> float:
    """Map ``threads`` threads; returns seconds taken."""
    started = time.perf_counter()
    existing = await store.get_thread(thread_key(threads - 1))
    if existing is not None:
        return 0.0
    if database_url.startswith("sqlite:///"):
        # one bulk transaction: filling is set-up, not what is measured
        now = time.time()
        rows = ((thread_key(n), str(uuid.uuid4()), thread_key(n), now, now) for n in range(threads))
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            db.executemany("INSERT OR REPLACE INTO threads VALUES (?, ?, ?, 'default', ?, ?)", rows)
    else:
        for start in range(0, threads, 500):
            await asyncio.gather(
                *(
                    store.save_thread(ThreadRecord(thread_key(n), str(uuid.uuid4()), thread_key(n)))
                    for n in range(start, min(threads, start + 500))
                )
            )
    return time.perf_counter() - started


async def mixed(store: Store, threads: int, ops: int, workers: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    lookups: list[float] = []
    upserts: list[float] = []
    fresh = iter(range(threads + seed * ops, threads + (seed + 1) * ops))

    async def worker(count: int) -> None:
        for i in range(count):
            if i % 2 == 0:
                key = thread_key(rng.randrange(threads))
                began = time.perf_counter()
                found = await store.get_thread(key)
                lookups.append(time.perf_counter() - began)
                assert found is not None, f"{key} lost"
            else:
                n = rng.randrange(threads) if rng.random() < 0.5 else next(fresh)
                record = ThreadRecord(thread_key(n), str(uuid.uuid4()), thread_key(n))
                began = time.perf_counter()
                await store.save_thread(record)
                upserts.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(worker(ops // workers) for _ in range(workers)))
    wall = time.perf_counter() - started
    return {
        "workers": workers,
        "ops": len(lookups) + len(upserts),
        "ops_per_s": (len(lookups) + len(upserts)) / wall,
        "lookup_p50_ms": percentile(lookups, 50) * 1e3,
        "lookup_p99_ms": percentile(lookups, 99) * 1e3,
        "upsert_p50_ms": percentile(upserts, 50) * 1e3,
        "upsert_p99_ms": percentile(upserts, 99) * 1e3,
    }


async def claims(store: Store, ops: int, workers: int) -> dict[str, Any]:
    latencies: list[float] = []
    keys = iter(range(ops))

    async def worker() -> None:
        for n in keys:
            began = time.perf_counter()
            await store.claim_events((f"Ev{n:08d}", f"C1:{n}.0001"))
            latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    wall = time.perf_counter() - started
    return {
        "workers": workers,
        "ops": len(latencies),
        "ops_per_s": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        try:
            store = await open_store(url)
        except BridgeError as exc:
            return {"backend": url.split(":", 1)[0], "error": str(exc)}
        try:
            filled = await fill(store, url, args.threads)
            results = [
                await mixed(store, args.threads, args.ops, 1, seed=1),
                await mixed(store, args.threads, args.ops, CONCURRENCY, seed=2),
            ]
            claimed = [await claims(store, args.ops, 1), await claims(store, args.ops, CONCURRENCY)]
        finally:
            await store.close()
    return {
        "backend": url.split(":", 1)[0],
        "threads": args.threads,
        "fill_s": filled,
        "mixed": results,
        "claims": claimed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--ops", type=int, default=10_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print_json(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
