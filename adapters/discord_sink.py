"""Shows one answer in a Discord channel or thread (the Discord :class:`ReplySink`).

Posts and edits go through discord.py, which waits on 429s itself; the edit
interval keeps one answer well inside Discord's per-channel edit bucket
(about 5 edits per 5 s), so those waits should not happen at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord

from dify_bridge.adapters.discord_text import (
    DISLIKE_EMOJI,
    LIKE_EMOJI,
    MAX_MESSAGE_LEN,
    message_key,
    neutralise_mentions,
    parse_message_key,
)
from dify_bridge.models import Controls
from dify_bridge.pacing import EditBudget

log = logging.getLogger(__name__)

TYPING_REFRESH = 8.0
"""Seconds between typing triggers; Discord shows one for about 10 s."""

NO_MENTIONS = discord.AllowedMentions.none()


class DiscordSink:
    """One answer in one channel; ``post`` returns ``discord:{channel_id}:{message_id}``."""

    max_len = MAX_MESSAGE_LEN
    min_edit_interval = 1.2
    edit_budget: EditBudget | None = None

    def __init__(
        self,
        channel: discord.PartialMessageable,
        *,
        reaction_hints: bool = False,
        typing_refresh: float = TYPING_REFRESH,
    ) -> None:
        self._channel = channel
        self._reaction_hints = reaction_hints
        self._typing_refresh = typing_refresh
        self._typing: asyncio.Task[None] | None = None
        self.posted: list[str] = []

    def render(self, markdown: str) -> str:
        return neutralise_mentions(markdown)

    async def show_thinking(self) -> None:
        if self._typing is None or self._typing.done():
            self._typing = asyncio.create_task(self._keep_typing(), name="discord-typing")

    async def clear_thinking(self) -> None:
        """Stop the typing indicator; the answer is complete, so add the rating hints."""
        task, self._typing = self._typing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The bridge calls this after the final write, so the last message posted
        # is the last part of the answer: that is where the hints belong.
        if self._reaction_hints and self.posted:
            await self._add_hints(self.posted[-1])

    async def post(self, text: str, *, controls: Controls | None = None) -> str:
        message = await self._channel.send(text, allowed_mentions=NO_MENTIONS)
        key = message_key(self._channel.id, message.id)
        self.posted.append(key)
        return key

    async def edit(
        self, message_key: str, text: str, *, final: bool, controls: Controls | None = None
    ) -> None:
        _, message_id = parse_message_key(message_key)
        partial = self._channel.get_partial_message(message_id)
        await partial.edit(content=text, allowed_mentions=NO_MENTIONS)

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self._channel.typing()
            except discord.HTTPException as exc:
                log.debug("typing indicator failed in %s: %s", self._channel.id, exc)
            await asyncio.sleep(self._typing_refresh)

    async def _add_hints(self, key: str) -> None:
        _, message_id = parse_message_key(key)
        partial = self._channel.get_partial_message(message_id)
        try:
            for emoji in (LIKE_EMOJI, DISLIKE_EMOJI):
                await partial.add_reaction(emoji)
        except discord.HTTPException as exc:
            log.info("could not add rating hints to %s: %s", key, exc)


__all__ = ["DiscordSink"]
