"""Where a Discord event happened: the channel, its parent, the conversation, the allow-lists.

A thread counts as its parent channel for the channel allow-list and for
routes. A DM channel is one conversation; a restricted bot takes no DMs
(:attr:`dify_bridge.core.AccessPolicy.restricted`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import discord

from dify_bridge.config import DiscordSettings
from dify_bridge.core import AccessPolicy, Attachment, BoundedDict, Incoming, RouteScope, ThreadKey

__all__ = ["AnyChannel", "Conversation", "Place", "Places", "policy_for", "role_ids"]

AnyChannel = (
    discord.abc.GuildChannel
    | discord.abc.PrivateChannel
    | discord.Thread
    | discord.PartialMessageable
)


def policy_for(settings: DiscordSettings) -> AccessPolicy:
    """The guild, channel and role allow-lists of ``DISCORD_ALLOWED_*``."""
    return AccessPolicy(
        groups=settings.allowed_guilds,
        places=settings.allowed_channels,
        roles=settings.allowed_roles,
    )


def role_ids(person: object) -> list[str] | None:
    """A member's role ids; None when Discord told none (a user outside a guild)."""
    roles: Iterable[discord.Role] | None = getattr(person, "roles", None)
    return [str(role.id) for role in roles] if roles is not None else None


@dataclass(frozen=True)
class Place:
    """Where a message was posted, resolved to what the allow-lists need."""

    channel_id: int
    parent_id: int | None
    """The text channel of a thread; None outside threads."""
    name: str

    @property
    def is_thread(self) -> bool:
        return self.parent_id is not None

    @property
    def home_channel(self) -> int:
        return self.parent_id if self.parent_id is not None else self.channel_id


@dataclass(frozen=True)
class Conversation:
    """A DM or guild thread the bot answers in, with what an :class:`Incoming` needs."""

    key: ThreadKey
    channel_id: int
    guild_id: int | None
    channel_name: str
    scopes: tuple[str, ...]

    @classmethod
    def dm(cls, channel_id: int) -> Conversation:
        scopes = (str(RouteScope.discord_channel(channel_id)),)
        return cls(ThreadKey.discord(None, channel_id), channel_id, None, "DM", scopes)

    @classmethod
    def in_guild(cls, guild_id: int, channel_id: int, place: Place) -> Conversation:
        """The thread ``channel_id`` (or channel) of ``place``, which routes by its channel."""
        scopes = (
            str(RouteScope.discord_channel(place.home_channel)),
            str(RouteScope.discord_guild(guild_id)),
        )
        key = ThreadKey.discord(guild_id, channel_id)
        return cls(key, channel_id, guild_id, place.name, scopes)

    def incoming(
        self,
        *,
        text: str,
        author: discord.User | discord.Member,
        event: str,
        attachments: tuple[Attachment, ...] = (),
        context: str = "",
    ) -> Incoming:
        url = f"https://discord.com/channels/{self.guild_id or '@me'}/{self.channel_id}"
        return Incoming(
            platform="discord",
            thread_key=str(self.key),
            text=text,
            user_id=str(author.id),
            event_keys=(event,),
            user_name=author.display_name,
            channel_id=str(self.channel_id),
            channel_name=self.channel_name,
            thread_url=url,
            shared=self.guild_id is not None,
            route_scopes=self.scopes,
            attachments=attachments,
            context=context,
        )


class Places:
    """Resolves channels (fetched once when discord.py's cache lacks them) and applies
    the allow-lists."""

    def __init__(
        self, client: Callable[[], discord.Client], policy: AccessPolicy, *, size: int = 10_000
    ) -> None:
        self._client = client
        self.policy = policy
        self._without_roles = replace(policy, roles=frozenset())
        self._known = BoundedDict[int, Place](size)

    @property
    def takes_dms(self) -> bool:
        return not self.policy.restricted

    def allows(self, guild_id: int, place: Place, roles: list[str] | None) -> bool:
        """True when ``place`` in ``guild_id`` and a person with ``roles`` are allowed."""
        return self.policy.allows(
            places=(str(place.channel_id), str(place.home_channel)),
            group=str(guild_id),
            roles=roles,
        )

    def allows_place(self, guild_id: int, place: Place) -> bool:
        """The guild and channel lists only (for what carries no member, e.g. a removal)."""
        return self._without_roles.allows(
            places=(str(place.channel_id), str(place.home_channel)), group=str(guild_id)
        )

    def remember(self, place: Place) -> None:
        self._known[place.channel_id] = place

    async def place(self, channel: AnyChannel) -> Place:
        """The channel and, for a thread, its parent; fetched once if the cache lacks it."""
        if isinstance(channel, discord.Thread):
            parent = channel.parent
            return Place(channel.id, channel.parent_id, parent.name if parent else channel.name)
        if isinstance(channel, discord.PartialMessageable):
            known = self._known.get(channel.id)
            if known is not None:
                return known
            fetched = await self._client().fetch_channel(channel.id)
            place = await self.place(fetched)
            self.remember(place)
            return place
        return Place(channel.id, None, getattr(channel, "name", "") or "")

    async def conversation_of(self, interaction: discord.Interaction) -> Conversation | None:
        """The conversation an interaction happened in, if the allow-lists let it through."""
        channel_id = interaction.channel_id
        if channel_id is None:
            return None
        guild_id = interaction.guild_id
        if guild_id is None:
            return Conversation.dm(channel_id) if self.takes_dms else None
        client = self._client()
        place = await self.place(client.get_partial_messageable(channel_id, guild_id=guild_id))
        if not self.allows(guild_id, place, role_ids(interaction.user)):
            return None
        return Conversation.in_guild(guild_id, place.channel_id, place)
