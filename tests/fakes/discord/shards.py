"""Sharding, as the real gateway does it.

IDENTIFY may carry ``shard: [id, count]``; that session receives the events of
the guilds with ``(guild_id >> 22) % count == id``, and DMs only on shard 0.
Two sessions on one shard both receive every event (the duplicate the bridge
must never cause). With :attr:`guilds_per_shard` set, a session with more
guilds than that is closed with 4011 (sharding required); an id outside the
count is closed with 4010 (invalid shard).
"""

from __future__ import annotations

import math

from tests.fakes.discord.records import Json

__all__ = ["Shard", "guild_of", "receives", "shard_of", "valid_shard"]

Shard = tuple[int, int] | None
"""``(shard_id, shard_count)`` as IDENTIFY named it; None: unsharded (all of it)."""


def shard_of(guild_id: int, count: int) -> int:
    return (guild_id >> 22) % count


def valid_shard(value: object) -> Shard | str:
    """The IDENTIFY's ``shard`` field as a :data:`Shard`, or an error text for 4010."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(n, int) for n in value)
        or not 0 <= value[0] < value[1]
    ):
        return "Invalid shard."
    return (value[0], value[1])


def receives(shard: Shard, guild_id: int | None) -> bool:
    """Whether a session on ``shard`` gets an event of ``guild_id`` (None: a DM)."""
    if shard is None:
        return True
    shard_id, count = shard
    if guild_id is None:
        return shard_id == 0
    return shard_of(guild_id, count) == shard_id


def guild_of(event: str, data: Json, channels: dict[int, Json]) -> int | None:
    """The guild an event belongs to (None for DMs)."""
    if event.startswith("GUILD_") and "guild_id" not in data:
        return int(data["id"])
    if data.get("guild_id"):
        return int(data["guild_id"])
    channel = channels.get(int(data.get("channel_id") or data.get("id") or 0))
    if channel is not None and channel.get("guild_id"):
        return int(channel["guild_id"])
    return None


def recommended_shards(guilds: int, per_shard: int | None) -> int:
    """What ``GET /gateway/bot`` answers in ``shards``."""
    if per_shard is None:
        return 1
    return max(1, math.ceil(guilds / per_shard))
