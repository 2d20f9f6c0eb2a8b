"""Holding Discord shards: each shard is one gateway session in the whole deployment.

``DISCORD_SHARD_COUNT`` shards; a guild's events go to shard
``(guild_id >> 22) % count``, DMs to shard 0. Replicas share the shards through
the claims the bridge hands out (:class:`dify_bridge.core.ShardClaims`): this
process opens one gateway session (:class:`DiscordConnection`) per shard it
claimed, and tries the others every :data:`RETRY_SECONDS`, so a replica with
no free shard stands by and takes over a shard whose holder died. Each
replica takes at most its fair share, ``ceil(count / replicas)``, and gives
one shard back per round while it holds more (a replica joined). When the
claims are lost (the database connection dropped) every session this process
holds is closed at once: another replica may already have identified.

One ``discord.Client(shard_id=, shard_count=)`` per shard, rather than one
``AutoShardedClient(shard_ids=)``: the shard set of a replica changes while it
runs, and AutoShardedClient takes its shard ids once (``launch_shards``), and
closes the whole client when one shard's gateway closes for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable

from dify_bridge.adapters.discord.client import DiscordConnection, DiscordUnavailable
from dify_bridge.core import ConfigError, ShardClaims, loop_step
from dify_bridge.errors import StoreError

__all__ = ["IDENTIFY_SPACING", "RETRY_SECONDS", "IdentifyGate", "ShardKeeper"]

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
"""How often a replica tries the shards it does not hold (and checks those it does)."""
IDENTIFY_SPACING = 5.0
"""Discord allows one IDENTIFY per 5 s in each ``max_concurrency`` bucket."""

Connect = Callable[[int], Awaitable[DiscordConnection]]


class IdentifyGate:
    """Spaces this process's IDENTIFYs: one per :data:`IDENTIFY_SPACING` in each bucket
    (``shard_id % max_concurrency``), whatever discord.py's own 5 s sleep would do."""

    def __init__(self, max_concurrency: int = 1, spacing: float = IDENTIFY_SPACING) -> None:
        self.max_concurrency = max(1, max_concurrency)
        self._spacing = spacing
        self._last: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def __call__(self, shard_id: int) -> None:
        bucket = shard_id % self.max_concurrency
        async with self._locks.setdefault(bucket, asyncio.Lock()):
            last = self._last.get(bucket)
            if last is not None:
                await asyncio.sleep(max(0.0, last + self._spacing - time.monotonic()))
            self._last[bucket] = time.monotonic()


class ShardKeeper:
    """Claims shards, opens their sessions, closes the ones whose claim is gone."""

    def __init__(
        self, count: int, claims: ShardClaims, connect: Connect, *, retry: float = RETRY_SECONDS
    ) -> None:
        self.count = count
        self._claims = claims
        self._connect = connect
        self._retry = retry
        self.connections: dict[int, DiscordConnection] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._standing_by = False
        claims.on_lost(self._wake.set)

    @property
    def standing_by(self) -> bool:
        return not self.connections

    async def start(self) -> None:
        """One round (the first error, such as a rejected token, is raised), then keep on."""
        await self._round(first=True)
        self._task = asyncio.create_task(self._keep(), name="discord-shards")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for shard_id in list(self.connections):
            await self._close(shard_id)
        await self._claims.close()

    async def _keep(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._retry)
            self._wake.clear()
            await loop_step(self._keep_round, "Discord shards")

    async def _keep_round(self) -> None:
        try:
            await self._round()
        except (StoreError, DiscordUnavailable, ConfigError) as exc:
            log.warning("Discord shards: %s; trying again in %.0f s", exc, self._retry)

    async def _round(self, *, first: bool = False) -> None:
        held = await self._claims.held()
        for shard_id, connection in list(self.connections.items()):
            if shard_id not in held:
                log.warning(
                    "Discord shard %d/%d: the claim is lost; closing its gateway",
                    shard_id,
                    self.count,
                )
                await self._close(shard_id)
            elif not connection.alive:
                log.warning(
                    "Discord shard %d/%d: the gateway closed; giving it up", shard_id, self.count
                )
                await self._close(shard_id)
                await self._claims.release(shard_id)
        share = math.ceil(self.count / await self._claims.members())
        if len(self.connections) > share:
            # a replica joined: give one shard back per round, closed before it is released
            extra = max(self.connections)
            log.info("Discord shard %d/%d: handed over to another replica", extra, self.count)
            await self._close(extra)
            await self._claims.release(extra)
        for shard_id in range(self.count):
            if len(self.connections) >= share:
                break
            if shard_id in self.connections or not await self._claims.claim(shard_id):
                continue
            try:
                self.connections[shard_id] = await self._connect(shard_id)
            except DiscordUnavailable as exc:
                await self._claims.release(shard_id)
                if first:
                    raise
                log.warning("Discord shard %d/%d: %s", shard_id, self.count, exc)
                continue
            except BaseException:
                await self._claims.release(shard_id)
                raise
            log.info("Discord shard %d/%d: held by this process", shard_id, self.count)
        if self.standing_by != self._standing_by:
            self._standing_by = self.standing_by
            if self._standing_by:
                log.info(
                    "standing by: every Discord shard (%d) is held by another replica; "
                    "trying again every %.0f s",
                    self.count,
                    self._retry,
                )

    async def _close(self, shard_id: int) -> None:
        connection = self.connections.pop(shard_id, None)
        if connection is not None:
            await connection.stop()
