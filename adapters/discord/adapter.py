"""Discord: a mention opens a thread, the thread is the conversation, 👍/👎 rate answers.

* A mention in a text channel creates a thread from that message and the answer
  streams inside it; later messages in a thread the bridge tracks continue the
  conversation without a mention; a mention inside any thread maps that thread.
  A DM channel is one conversation.
* Bots (this one included) and system messages are ignored; the allow-lists
  (:mod:`dify_bridge.adapters.discord.access`) are applied before the bridge
  sees anything.
* Every message carries ``discord-msg:{id}`` as its event key, so a MESSAGE_CREATE
  that the gateway replays after a RESUME is never answered twice.
* Attachments reach Dify as files when the app takes them; a voice message or an
  audio file becomes the question through :mod:`dify_bridge.core.voice`.
* Buttons under answers (Stop, 👍/👎, suggested questions) and the slash commands
  ``/new`` and ``/status`` arrive as interactions, acknowledged at once; a 🛑
  reaction on an answer stops it too.

Connecting (and pointing discord.py at ``DISCORD_API_URL``/``DISCORD_GATEWAY_URL``)
is :mod:`dify_bridge.adapters.discord.client`'s job.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import discord

from dify_bridge.adapters.common import download
from dify_bridge.adapters.discord.access import AccessPolicy
from dify_bridge.adapters.discord.client import (
    PRIVILEGED_INTENTS_HELP,
    DiscordConnection,
    DiscordUnavailable,
)
from dify_bridge.adapters.discord.commands import COMMANDS, new_reply, status_reply
from dify_bridge.adapters.discord.sink import NO_MENTIONS, DiscordSink, SuggestedQuestions
from dify_bridge.adapters.discord.text import (
    STOP_EMOJI,
    event_key,
    interaction_event_key,
    message_key,
    name_user_mentions,
    neutralise_mentions,
    parse_custom_id,
    rating_for,
    strip_bot_mention,
    thread_key,
    thread_name,
)
from dify_bridge.config import DiscordSettings
from dify_bridge.core.bridge import Bridge
from dify_bridge.core.types import ActionKind, Attachment, Incoming, Rating, Reaction

log = logging.getLogger(__name__)

ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
THREAD_ARCHIVE_MINUTES: Literal[60, 1440, 4320, 10080] = 1440
THREAD_EXISTS = 160004
"""Discord's error code for "a thread has already been created for this message"."""


@dataclass(frozen=True)
class _Place:
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
class _Conversation:
    """A DM or guild thread the bot answers in, with what an :class:`Incoming` needs."""

    key: str
    channel_id: int
    guild_id: int | None
    channel_name: str
    scopes: tuple[str, ...]


_AnyChannel = (
    discord.abc.GuildChannel
    | discord.abc.PrivateChannel
    | discord.Thread
    | discord.PartialMessageable
)


class DiscordAdapter:
    """Connects one bot to the gateway and answers through the bridge."""

    name = "discord"

    def __init__(
        self,
        settings: DiscordSettings,
        bridge: Bridge,
        *,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        self._settings = settings
        self._bridge = bridge
        self._access = AccessPolicy.from_settings(settings)
        self._questions = SuggestedQuestions()
        self._connection = DiscordConnection(
            settings, self, ready_timeout=ready_timeout, guild_ready_timeout=guild_ready_timeout
        )
        self._places: dict[int, _Place] = {}
        self._opened: dict[int, asyncio.Event] = {}
        """Threads this process opened, set once the opening question went to the bridge.
        They are followed before the bridge has stored a conversation (it does so on Dify's
        first event, which an agent app may take a while to send), and a quick follow-up
        waits for the opening question so the two reach the bridge in order."""

    @property
    def client(self) -> discord.Client:
        client = self._connection.client
        if client is None:
            raise RuntimeError("the Discord adapter is not started")
        return client

    @property
    def healthy(self) -> bool:
        """Started, with the gateway websocket open (discord.py reconnects it)."""
        ws = self._connection.client.ws if self._connection.client is not None else None
        return ws is not None and ws.open

    async def start(self) -> None:
        """Log in, connect, register the slash commands; return once READY has arrived."""
        await self._connection.start()
        await self._register_commands()

    async def _register_commands(self) -> None:
        client = self.client
        if client.application_id is None:
            log.warning("Discord named no application id: /new and /status not registered")
            return
        try:
            await client.http.bulk_upsert_global_commands(client.application_id, list(COMMANDS))
        except discord.HTTPException as exc:
            log.warning("could not register the /new and /status commands: %s", exc)

    async def stop(self) -> None:
        await self._connection.stop()

    # ------------------------------------------------------------------ messages

    async def on_message(self, message: discord.Message) -> None:
        if self._connection.client is None:
            return  # stopping: events still in flight are dropped
        try:
            await self._handle_message(message)
        except discord.Forbidden as exc:
            log.warning(
                "Discord refused a call for message %s (%s): the bot needs View Channel, "
                "Send Messages, Create Public Threads and Send Messages in Threads there",
                message.id,
                exc,
            )
        except discord.HTTPException as exc:
            log.warning("Discord refused a call for message %s: %s", message.id, exc)
        except Exception:
            log.exception("message %s could not be handled", message.id)

    async def _handle_message(self, message: discord.Message) -> None:
        me = self.client.user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        if message.type not in ANSWERED_TYPES:
            return
        if message.guild is None:
            if not self._access.allows_dm():
                log.debug("DM %s ignored: allow-lists are set", message.id)
                return
            channel_id = message.channel.id
            key = thread_key(None, channel_id)
            await self._answer(message, channel_id, key, "DM", (f"discord:{channel_id}",))
            return
        guild = message.guild
        place = await self._place(message.channel)
        roles = getattr(message.author, "roles", None)
        role_ids = [role.id for role in roles] if roles is not None else None
        allowed = self._access.allows_place(guild.id, (place.channel_id, place.home_channel))
        if not allowed or not self._access.allows_roles(role_ids):
            log.debug("message %s ignored: outside the allow-lists", message.id)
            return
        mentioned = self._mentions_me(message, me.id)
        if place.is_thread:
            key = thread_key(guild.id, place.channel_id)
            opening = self._opened.get(place.channel_id)
            if opening is not None:
                await opening.wait()
            followed = opening is not None or await self._bridge.follows(key)
            if not mentioned and not followed:
                return
            channel_id = place.channel_id
        elif mentioned:
            if len(self._opened) > 10_000:
                self._opened.clear()
            # Discord gives a thread started from a message that message's id
            opened = self._opened.setdefault(message.id, asyncio.Event())
            try:
                channel_id = await self._open_thread(message, me.id)
            finally:
                opened.set()  # no await until handle_message: the opener goes first
            key = thread_key(guild.id, channel_id)
        else:
            return
        scopes = (f"discord:{place.home_channel}", f"discord:guild:{guild.id}")
        await self._answer(message, channel_id, key, place.name, scopes)

    async def _answer(
        self,
        message: discord.Message,
        channel_id: int,
        key: str,
        channel_name: str,
        scopes: tuple[str, ...],
    ) -> None:
        me = self.client.user
        assert me is not None
        text = strip_bot_mention(message.content, me.id)
        names = {u.id: u.display_name for u in message.mentions if u.id != me.id}
        guild_id = message.guild.id if message.guild is not None else None
        conversation = _Conversation(key, channel_id, guild_id, channel_name, scopes)
        incoming = self._incoming(
            conversation,
            text=name_user_mentions(text, names),
            author=message.author,
            event=event_key(message.id),
            attachments=tuple(
                _attachment(a, message.flags.voice, self.client.http) for a in message.attachments
            ),
        )
        await self._deliver(conversation, incoming)

    def _incoming(
        self,
        conversation: _Conversation,
        *,
        text: str,
        author: discord.User | discord.Member,
        event: str,
        attachments: tuple[Attachment, ...] = (),
    ) -> Incoming:
        guild_id = conversation.guild_id
        url = f"https://discord.com/channels/{guild_id or '@me'}/{conversation.channel_id}"
        return Incoming(
            platform="discord",
            thread_key=conversation.key,
            text=text,
            user_id=str(author.id),
            event_keys=(event,),
            user_name=author.display_name,
            channel_id=str(conversation.channel_id),
            channel_name=conversation.channel_name,
            thread_url=url,
            shared=guild_id is not None,
            route_scopes=conversation.scopes,
            attachments=attachments,
        )

    async def _deliver(self, conversation: _Conversation, incoming: Incoming) -> None:
        """Hand one question (or recording) to the bridge, answered in ``conversation``."""
        channel = self.client.get_partial_messageable(
            conversation.channel_id, guild_id=conversation.guild_id
        )
        sink = DiscordSink(
            channel, reaction_hints=self._settings.reaction_hints, questions=self._questions
        )
        await self._bridge.handle_message(incoming, sink)

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
        self._places[thread.id] = _Place(thread.id, message.channel.id, name)
        return thread.id

    async def _place(self, channel: _AnyChannel) -> _Place:
        """The channel and, for a thread, its parent; fetched once if the cache lacks it."""
        if isinstance(channel, discord.Thread):
            parent = channel.parent
            return _Place(channel.id, channel.parent_id, parent.name if parent else channel.name)
        if isinstance(channel, discord.PartialMessageable):
            known = self._places.get(channel.id)
            if known is not None:
                return known
            fetched = await self.client.fetch_channel(channel.id)
            if len(self._places) > 10_000:
                self._places.clear()
            self._places[channel.id] = place = await self._place(fetched)
            return place
        return _Place(channel.id, None, getattr(channel, "name", "") or "")

    # ------------------------------------------------------------------ reactions

    async def on_reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        me = self.client.user
        if me is None or payload.user_id == me.id:
            return
        reactor = payload.member or self.client.get_user(payload.user_id)
        if reactor is not None and reactor.bot:
            return  # another bot's reactions are not a person's feedback or stop
        rating = rating_for(payload.emoji.name)
        stop = added and payload.emoji.name == STOP_EMOJI
        if rating is None and not stop:
            return
        if payload.guild_id is None:
            if not self._access.allows_dm():
                return
        elif self._access.restricted:
            channel = self.client.get_channel(payload.channel_id)
            try:
                place = await self._place(
                    channel
                    or self.client.get_partial_messageable(
                        payload.channel_id, guild_id=payload.guild_id
                    )
                )
            except discord.HTTPException as exc:
                log.warning("reaction ignored: channel %s unknown (%s)", payload.channel_id, exc)
                return
            if not self._access.allows_place(
                payload.guild_id, (place.channel_id, place.home_channel)
            ):
                return
            # a removal carries no member; it only takes back what an allowed member added
            member = payload.member
            if added and not self._access.allows_roles(
                [role.id for role in member.roles] if member is not None else None
            ):
                return
        key = message_key(payload.channel_id, payload.message_id)
        if stop:
            await self._bridge.stop_answer(message_key=key)
            return
        reaction = Reaction(
            message_key=key, rating=rating if added else None, user_id=str(payload.user_id)
        )
        await self._bridge.handle_reaction(reaction)

    # ------------------------------------------------------------------ interactions

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        try:
            if interaction.type is discord.InteractionType.component:
                await self._on_button(interaction)
            elif interaction.type is discord.InteractionType.application_command:
                await self._on_command(interaction)
        except discord.HTTPException as exc:
            log.warning("Discord refused a call for interaction %s: %s", interaction.id, exc)
        except Exception:
            log.exception("interaction %s could not be handled", interaction.id)

    async def _on_button(self, interaction: discord.Interaction) -> None:
        data: Mapping[str, object] = interaction.data or {}
        custom_id = str(data.get("custom_id", ""))
        action = parse_custom_id(custom_id)
        if action is None or interaction.message is None or interaction.channel_id is None:
            # not one of the bridge's buttons (or a forged value): acknowledged, ignored
            log.info(
                "ignoring a click on component %r in channel %s",
                custom_id[:100],
                interaction.channel_id,
            )
            await interaction.response.defer()
            return
        # acknowledged before anything else: Discord shows a failure after 3 s
        await interaction.response.defer()
        conversation = await self._conversation_of(interaction)
        if conversation is None:
            return
        kind, argument = action
        key = message_key(interaction.channel_id, interaction.message.id)
        if kind is ActionKind.STOP:
            await self._bridge.stop_answer(message_key=key)
        elif kind is ActionKind.FEEDBACK:
            reaction = Reaction(key, Rating(argument), str(interaction.user.id))
            await self._bridge.handle_reaction(reaction)
        else:
            channel = self.client.get_partial_messageable(
                conversation.channel_id, guild_id=conversation.guild_id
            )
            argument = self._questions.whole(str(data.get("custom_id", "")), argument)
            asked = f"💬 {interaction.user.display_name}: {argument}"
            await channel.send(neutralise_mentions(asked), allowed_mentions=NO_MENTIONS)
            incoming = self._incoming(
                conversation,
                text=argument,
                author=interaction.user,
                event=interaction_event_key(interaction.id),
            )
            await self._deliver(conversation, incoming)

    async def _on_command(self, interaction: discord.Interaction) -> None:
        data: Mapping[str, object] = interaction.data or {}
        name = str(data.get("name", ""))
        if name not in ("new", "status"):
            return
        # deferred at once: the answer below may wait on Discord and Dify, Discord only 3 s
        await interaction.response.defer(ephemeral=True)
        try:
            conversation = await self._conversation_of(interaction)
        except discord.HTTPException as exc:  # e.g. no View Channel there: still answer
            log.info("command in channel %s: %s", interaction.channel_id, exc)
            conversation = None
        if conversation is None:
            text = "I do not answer here."
        elif name == "new":
            in_dm = conversation.guild_id is None
            if in_dm:
                await self._bridge.store.forget_thread(conversation.key)
            text = new_reply(in_dm=in_dm)
        else:
            record = await self._bridge.store.get_thread(conversation.key)
            app = (
                self._bridge.apps.get(record.app)
                if record is not None
                else self._bridge.apps.for_scopes(conversation.scopes)
            )
            text = await status_reply(record, app)
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _conversation_of(self, interaction: discord.Interaction) -> _Conversation | None:
        """The conversation an interaction happened in, if the allow-lists let it through."""
        channel_id = interaction.channel_id
        if channel_id is None:
            return None
        guild_id = interaction.guild_id
        if guild_id is None:
            if not self._access.allows_dm():
                return None
            return _Conversation(
                thread_key(None, channel_id), channel_id, None, "DM", (f"discord:{channel_id}",)
            )
        place = await self._place(
            self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        )
        roles = getattr(interaction.user, "roles", None)
        role_ids = [role.id for role in roles] if roles is not None else None
        allowed = self._access.allows_place(guild_id, (place.channel_id, place.home_channel))
        if not allowed or not self._access.allows_roles(role_ids):
            return None
        scopes = (f"discord:{place.home_channel}", f"discord:guild:{guild_id}")
        return _Conversation(
            thread_key(guild_id, place.channel_id), place.channel_id, guild_id, place.name, scopes
        )


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


__all__ = ["PRIVILEGED_INTENTS_HELP", "DiscordAdapter", "DiscordUnavailable"]
