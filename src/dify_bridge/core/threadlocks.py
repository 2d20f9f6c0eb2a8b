"""One turn at a time per thread: in-process order first, then the store's lock.

Messages in one thread are answered one at a time, in arrival order; other
threads go on in parallel. ``asyncio.Lock`` serves waiters in order, and a
store shared by several replicas adds its own lock, so the rule spans them.
A thread's lock is dropped once nobody holds or waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from dify_bridge.store import Store

__all__ = ["ThreadLocks"]


class ThreadLocks:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, thread_key: str) -> AsyncIterator[None]:
        """Held for one turn in ``thread_key``."""
        lock, users = self._locks.get(thread_key, (asyncio.Lock(), 0))
        self._locks[thread_key] = (lock, users + 1)
        try:
            async with lock, self._store.thread_lock(thread_key):
                yield
        finally:
            lock, users = self._locks[thread_key]
            if users == 1:
                del self._locks[thread_key]
            else:
                self._locks[thread_key] = (lock, users - 1)
