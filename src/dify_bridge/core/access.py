"""Who may talk to the bot where: one allow-list policy for every platform.

Each list left empty allows everything. A place is given with the places it
belongs to (a thread with its parent channel), so a thread follows its
channel. A private conversation (a DM) belongs to no group and no listed
place: it is allowed only when the policy restricts nothing a DM could be
checked against, so a restricted bot is not reachable around its lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AccessPolicy"]


@dataclass(frozen=True)
class AccessPolicy:
    groups: frozenset[str] = frozenset()
    """Whole workspaces or servers (Discord guilds)."""
    places: frozenset[str] = frozenset()
    """Channels (a thread counts as its parent channel)."""
    people: frozenset[str] = frozenset()
    """User ids."""
    roles: frozenset[str] = frozenset()
    """Role ids (Discord); people with none of them are refused."""

    @property
    def restricted(self) -> bool:
        return bool(self.groups or self.places or self.people or self.roles)

    def allows(
        self,
        *,
        places: Iterable[str] = (),
        group: str | None = None,
        person: str | None = None,
        roles: Iterable[str] | None = (),
    ) -> bool:
        """True when every list that is set lets this message through.

        ``roles`` None: the person's roles are unknown, which a role list refuses.
        ``group`` None (a DM): a group list refuses.
        """
        if self.groups and (group is None or group not in self.groups):
            return False
        if self.places and not any(place in self.places for place in places):
            return False
        if self.people and (person is None or person not in self.people):
            return False
        return not self.roles or (roles is not None and any(r in self.roles for r in roles))
