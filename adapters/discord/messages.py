"""Messages: a mention opens a thread, a followed thread needs no mention, a DM is one conversation.

* A mention in a text channel creates a thread from that message and the answer
  streams inside it; later messages in a thread the bridge follows
  (:meth:`dify_bridge.core.Bridge.follows`) continue the conversation without a
  mention; a mention inside any thread maps that thread.
* The first question of a thread a person started brings the thread's earlier
  messages; a mention that replies to a message brings that message and its
  reply chain (:mod:`.history`).
* A follow-up in a thread this process is still opening waits for the opening
  question, so the two reach the bridge in order.
* Bots (this one included) and system messages are ignored; the allow-lists
  are applied before the bridge sees anything.
* Every message carries ``discord-msg:{id}`` as its event key, so a MESSAGE_CREATE
  that the gateway replays after a RESUME is never answered twice.
* Attachments reach Dify as files when the app takes them; a voice message or an
  audio file becomes the question through the bridge's voice support.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Literal

import discord

from dify_bridge.adapters.common import download
from dify_bridge.adapters.discord.history import ANSWERED_TYPES, EarlierMessages
from dify_bridge.adapters.discord.places import Conversation, Place, Places, role_ids
from dify_bridge.adapters.discord.sink import DiscordSink, SuggestedQuestions
from dify_bridge.adapters.discord.text import (
    event_key,
    name_user_mentions,
    strip_bot_mention,
    thread_name,
)
from dify_bridge.core import Attachment, BoundedDict, Bridge, Incoming

__all__ = ["ANSWERED_TYPES", "Asker", "MessageHandler"]

log = logging.getLogger(__name__)

THREAD_ARCHIVE_MINUTES: Literal[60, 1440, 4320, 10080] = 1440
THREAD_EXISTS = 160004
"""Discord's error code for "a thread has already been created for this message"."""


class Asker:
    """Hands one question (or recording) to the bridge, answered in its conversation."""

    def __init__(
        self,
        client: Callable[[], discord.Client],
        bridge: Bridge,
        *,
        reaction_hints: bool,
        questions: SuggestedQuestions,
    ) -> None:
        self._client = client
        self._bridge = bridge
        self._reaction_hints = reaction_hints
        self.questions = questions

    def sink(self, conversation: Conversation) -> DiscordSink:
        channel = self._client().get_partial_messageable(
            conversation.channel_id, guild_id=conversation.guild_id
        )
        return DiscordSink(channel, reaction_hints=self._reaction_hints, questions=self.questions)

    async def ask(self, conversation: Conversation, incoming: Incoming) -> None:
        await self._bridge.handle_message(incoming, self.sink(conversation))


class MessageHandler:
    def __init__(
        self, client: Callable[[], discord.Client], bridge: Bridge, places: Places, asker: Asker
    ) -> None:
        self._client = client
        self._bridge = bridge
        self._places = places
        self._asker = asker
        self._earlier = EarlierMessages(client)
        self._opening = BoundedDict[int, asyncio.Event]()
        """Threads this process is opening, set once the opening question went to the bridge
        (which follows the thread from then on): a quick follow-up waits for it."""

    async def handle(self, message: discord.Message) -> None:
        me = self._client().user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        if message.type not in ANSWERED_TYPES:
            return
        if message.guild is None:
            if not self._places.takes_dms:
                log.debug("DM %s ignored: allow-lists are set", message.id)
                return
            await self._answer(message, Conversation.dm(message.channel.id))
            return
        guild = message.guild
        place = await self._places.place(message.channel)
        if not self._places.allows(guild.id, place, role_ids(message.author)):
            log.debug("message %s ignored: outside the allow-lists", message.id)
            return
        mentioned = self._mentions_me(message, me.id)
        context = ""
        if place.is_thread:
            conversation = Conversation.in_guild(guild.id, place.channel_id, place)
            opening = self._opening.get(place.channel_id)
            if opening is not None:
                await opening.wait()
            if not await self._bridge.follows(str(conversation.key)):
                if not mentioned:
                    return
                context = await self._earlier.in_thread(message, place.channel_id)
        elif mentioned:
            if message.type is discord.MessageType.reply:  # read before the thread opens
                context = await self._earlier.replied_to(message)
            # Discord gives a thread started from a message that message's id
            opened = self._opening.setdefault(message.id, asyncio.Event())
            try:
                thread_id = await self._open_thread(message, me.id)
            finally:
                opened.set()  # no await until handle_message: the opener goes first
            conversation = Conversation.in_guild(guild.id, thread_id, place)
        else:
            return
        await self._answer(message, conversation, context)

    async def _answer(
        self, message: discord.Message, conversation: Conversation, context: str = ""
    ) -> None:
        client = self._client()
        me = client.user
        assert me is not None
        text = strip_bot_mention(message.content, me.id)
        names = {u.id: u.display_name for u in message.mentions if u.id != me.id}
        voice = message.flags.voice
        incoming = conversation.incoming(
            text=name_user_mentions(text, names),
            author=message.author,
            event=event_key(message.id),
            attachments=tuple(_attachment(a, voice, client.http) for a in message.attachments),
            context=context,
        )
        await self._asker.ask(conversation, incoming)

    def _mentions_me(self, message: discord.Message, my_id: int) -> bool:
        if my_id in message.raw_mentions:
            return True
        guild = message.guild
        if guild is None or not message.raw_role_mentions:
            return False
        # a mention of the bot's own managed role addresses the bot too
        me = guild.get_member(my_id)
        own_roles = {role.id for role in me.roles if role.is_bot_managed()} if me else set()
        return any(role_id in own_roles for role_id in message.raw_role_mentions)

    async def _open_thread(self, message: discord.Message, my_id: int) -> int:
        """Start a thread from ``message``; a replayed message finds its existing thread."""
        assert message.guild is not None
        if message.guild.get_thread(message.id) is not None:
            return message.id
        question = strip_bot_mention(message.content, my_id)
        name = thread_name(question, f"Question from {message.author.display_name}")
        try:
            thread = await message.create_thread(
                name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.HTTPException as exc:
            if exc.code != THREAD_EXISTS:
                raise
            return message.id
        name = getattr(message.channel, "name", "") or thread.name
        self._places.remember(Place(thread.id, message.channel.id, name))
        return thread.id


def _attachment(
    attachment: discord.Attachment, voice_message: bool, http: discord.http.HTTPClient
) -> Attachment:
    """A user's file; ``fetch`` downloads it from Discord's CDN when the bridge needs it."""
    mime = attachment.content_type or ("audio/ogg" if voice_message else "")
    fetch = functools.partial(_download, attachment.url, http)
    return Attachment(attachment.filename, mime, attachment.size, attachment.url, fetch=fetch)


async def _download(url: str, http: discord.http.HTTPClient, max_bytes: int) -> bytes:
    """The whole attachment, at most ``max_bytes`` (else ``FileTooLarge``).

    Not ``Attachment.read()``: discord.py's ``HTTPClient.get_from_cdn`` reads
    the whole body with no cap and has no streamed form, so the CDN URL (signed,
    no token needed) is streamed here, through discord.py's proxy settings.
    """
    return await download(
        "Discord attachment download", url, max_bytes, proxy=http.proxy, proxy_auth=http.proxy_auth
    )
