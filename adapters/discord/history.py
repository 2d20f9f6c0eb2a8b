"""What was said before the bot was asked on Discord: a thread's earlier messages, a reply's chain.

* A mention inside a thread with no conversation yet (one a person started)
  brings the thread's messages before it: one page of
  ``GET /channels/{thread}/messages?before=…``. A thread started from a
  message begins with Discord's thread starter message, which points at that
  message in the parent channel: it counts as the thread's first message.
* A mention that replies to a message brings that message and the messages
  it in turn replies to (up to :data:`REPLY_CHAIN`), oldest first.

Speakers by display name, the bot itself as the assistant, other bots marked;
capped and laid out by :mod:`dify_bridge.core.history`, sent with the first
turn only. Always on: it needs the Read Message History permission, so an
operator who does not want it denies the bot that permission. When Discord
refuses (403 Missing Access) or fails, the question goes without (or with
what was read so far) and one line is logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
import discord

from dify_bridge.adapters.discord.text import name_user_mentions
from dify_bridge.core import Said, history

__all__ = ["ANSWERED_TYPES", "HISTORY_PAGE", "REPLY_CHAIN", "EarlierMessages"]

log = logging.getLogger(__name__)

ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
"""Messages people write (system messages are neither answered nor read back)."""
HISTORY_PAGE = 50
"""One request (Discord pages up to 100); more than the 20 kept, for lines without text."""
REPLY_CHAIN = 5
LOOKUP_TIMEOUT = 10.0
"""An answer without context beats one that waits on Discord's rate limits."""

LookupFailed = (discord.HTTPException, aiohttp.ClientError, TimeoutError)


class EarlierMessages:
    """Reads a thread's or a reply chain's earlier messages as the first turn's context."""

    def __init__(self, client: Callable[[], discord.Client]) -> None:
        self._client = client

    async def in_thread(self, message: discord.Message, thread_id: int) -> str:
        """The messages of thread ``thread_id`` before ``message``, or "" (none, or refused)."""
        guild_id = message.guild.id if message.guild else None
        thread = self._client().get_partial_messageable(thread_id, guild_id=guild_id)
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                newest_first = [m async for m in thread.history(limit=HISTORY_PAGE, before=message)]
                said = [await self._said(m) for m in reversed(newest_first)]
        except LookupFailed as exc:
            log.warning(
                "answering in %s without the thread's earlier messages: %s", thread_id, _why(exc)
            )
            return ""
        return history.history_text(s for s in said if s is not None)

    async def replied_to(self, message: discord.Message) -> str:
        """The message ``message`` replies to and its own chain of replies, or ""."""
        chain: list[discord.Message] = []
        reference = message.reference
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT):
                while reference is not None and len(chain) < REPLY_CHAIN:
                    earlier = await self._resolve(reference)
                    if earlier is None:
                        break
                    chain.append(earlier)
                    reference = (
                        earlier.reference if earlier.type is discord.MessageType.reply else None
                    )
        except LookupFailed as exc:
            log.warning(
                "answering in %s without the message it replies to: %s",
                message.channel.id,
                _why(exc),
            )
        said = [self._spoken(m) for m in reversed(chain)]
        return history.history_text((s for s in said if s is not None), history.IN_REPLY_TO)

    async def _said(self, message: discord.Message) -> Said | None:
        if message.type is discord.MessageType.thread_starter_message and message.reference:
            starter = await self._resolve(message.reference)
            return self._spoken(starter) if starter is not None else None
        return self._spoken(message)

    def _spoken(self, message: discord.Message) -> Said | None:
        if message.type not in ANSWERED_TYPES:
            return None
        author = message.author
        me = self._client().user
        own = me is not None and author.id == me.id
        speaker = history.speaker_label(author.display_name, own=own, bot=author.bot)
        names = {u.id: u.display_name for u in message.mentions}
        return Said(speaker, name_user_mentions(message.content, names))

    async def _resolve(self, reference: discord.MessageReference) -> discord.Message | None:
        """The message ``reference`` points at: as Discord sent it along, cached, or fetched."""
        if isinstance(reference.resolved, discord.DeletedReferencedMessage):
            return None
        if isinstance(reference.resolved, discord.Message):
            return reference.resolved
        if reference.cached_message is not None:
            return reference.cached_message
        if reference.message_id is None:
            return None
        channel = self._client().get_partial_messageable(
            reference.channel_id, guild_id=reference.guild_id
        )
        try:
            return await channel.fetch_message(reference.message_id)
        except discord.NotFound:
            return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"{exc.status} {exc.text or type(exc).__name__}"
    return type(exc).__name__
