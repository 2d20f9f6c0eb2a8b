"""Who and where the Discord bot answers: the guild, channel and role allow-lists.

An empty list allows everything. A thread follows its parent channel. DMs
belong to no guild, channel list or role, so they are answered only when no
allow-list is set at all: a restricted bot is not reachable around its lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dify_bridge.config import DiscordSettings


@dataclass(frozen=True)
class AccessPolicy:
    guilds: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: DiscordSettings) -> AccessPolicy:
        return cls(settings.allowed_guilds, settings.allowed_channels, settings.allowed_roles)

    @property
    def restricted(self) -> bool:
        return bool(self.guilds or self.channels or self.roles)

    def allows_dm(self) -> bool:
        return not self.restricted

    def allows_place(self, guild_id: int, channel_ids: Iterable[int]) -> bool:
        """``channel_ids``: the channel and, for a thread, its parent."""
        if self.guilds and str(guild_id) not in self.guilds:
            return False
        return not self.channels or any(str(c) in self.channels for c in channel_ids)

    def allows_roles(self, role_ids: Iterable[int] | None) -> bool:
        """``role_ids`` is None when the member's roles are unknown: a role list refuses."""
        if not self.roles:
            return True
        return role_ids is not None and any(str(r) in self.roles for r in role_ids)


__all__ = ["AccessPolicy"]
