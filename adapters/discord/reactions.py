"""Reactions on the bot's answers: 👍/👎 (any skin tone) rate them, 🛑 stops one streaming.

Raw reaction events are used: they arrive for messages discord.py never cached
(every answer, since the client keeps no message cache). Another bot's
reactions, the bot's own rating hints and other emoji are nobody's feedback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord

from dify_bridge.adapters.discord.places import Places, role_ids
from dify_bridge.adapters.discord.text import STOP_EMOJI, rating_for
from dify_bridge.core import Bridge, MessageKey, Reaction

__all__ = ["ReactionHandler"]

log = logging.getLogger(__name__)


class ReactionHandler:
    def __init__(
        self, client: Callable[[], discord.Client], bridge: Bridge, places: Places
    ) -> None:
        self._client = client
        self._bridge = bridge
        self._places = places

    async def handle(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        client = self._client()
        me = client.user
        if me is None or payload.user_id == me.id:
            return
        reactor = payload.member or client.get_user(payload.user_id)
        if reactor is not None and reactor.bot:
            return  # another bot's reactions are not a person's feedback or stop
        rating = rating_for(payload.emoji.name)
        stop = added and payload.emoji.name == STOP_EMOJI
        if rating is None and not stop:
            return
        if not await self._allowed(payload, added=added):
            return
        key = str(MessageKey.discord(payload.channel_id, payload.message_id))
        if stop:
            await self._bridge.stop_answer(message_key=key)
            return
        reaction = Reaction(
            message_key=key, rating=rating if added else None, user_id=str(payload.user_id)
        )
        await self._bridge.handle_reaction(reaction)

    async def _allowed(self, payload: discord.RawReactionActionEvent, *, added: bool) -> bool:
        places = self._places
        if payload.guild_id is None:
            return places.takes_dms
        if not places.policy.restricted:
            return True
        client = self._client()
        channel = client.get_channel(payload.channel_id) or client.get_partial_messageable(
            payload.channel_id, guild_id=payload.guild_id
        )
        try:
            place = await places.place(channel)
        except discord.HTTPException as exc:
            log.warning("reaction ignored: channel %s unknown (%s)", payload.channel_id, exc)
            return False
        if not added:
            # a removal carries no member; it only takes back what an allowed member added
            return places.allows_place(payload.guild_id, place)
        return places.allows(payload.guild_id, place, role_ids(payload.member))
