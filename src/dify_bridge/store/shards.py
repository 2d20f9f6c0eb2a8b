"""Which process holds which shard of a platform's gateway (Discord's, today).

Each shard must be held by exactly one gateway session in the whole
deployment. :class:`ShardClaims` is the narrow interface the platform adapter
gets (through :meth:`dify_bridge.core.Bridge.shard_claims`), never the store:

* an embedded store (SQLite, one process) grants every claim (:class:`LocalShardClaims`);
* PostgreSQL holds each claim as a session advisory lock on one dedicated
  connection (:mod:`.pg_shards`): when the process dies, its connection ends
  and its claims with it, and a standby replica's next try succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["LocalShardClaims", "ShardClaims"]


class ShardClaims(Protocol):
    """Claims on shard ids, held until released, closed or lost with the connection."""

    async def claim(self, shard_id: int) -> bool:
        """Take the shard if nobody holds it (never waits); True if it is now held here."""
        ...

    async def release(self, shard_id: int) -> None:
        """Give the shard back (nothing happens if it was not held)."""
        ...

    async def held(self) -> frozenset[int]:
        """The shards still held, confirmed with whatever keeps the claims (a heartbeat):
        empty once the claims were lost."""
        ...

    async def members(self) -> int:
        """How many processes take part (this one included), to share the shards fairly."""
        ...

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the event loop) as soon as the claims are lost."""
        ...

    async def close(self) -> None:
        """Release every claim."""
        ...


class LocalShardClaims:
    """One process owns the store, so it holds every shard."""

    def __init__(self) -> None:
        self._held: set[int] = set()

    async def claim(self, shard_id: int) -> bool:
        self._held.add(shard_id)
        return True

    async def release(self, shard_id: int) -> None:
        self._held.discard(shard_id)

    async def held(self) -> frozenset[int]:
        return frozenset(self._held)

    async def members(self) -> int:
        return 1

    def on_lost(self, callback: Callable[[], None]) -> None:
        pass  # nothing to lose

    async def close(self) -> None:
        self._held.clear()
