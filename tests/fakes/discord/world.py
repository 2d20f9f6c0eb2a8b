"""What a test sets up and does as users, and what the users see."""

from __future__ import annotations

import re

from tests.fakes.discord.records import (
    REPLY,
    THREAD_STARTER_MESSAGE,
    FakeFile,
    FakeGuild,
    FakeUser,
    Json,
    RestCall,
    now,
)
from tests.fakes.discord.shards import shard_of
from tests.fakes.discord.state import DiscordState


class World(DiscordState):
    """Guilds, channels and users; messages and reactions by users; what they read."""

    def add_guild(
        self, name: str = "Test guild", *, shard: tuple[int, int] | None = None
    ) -> FakeGuild:
        """A guild; with ``shard=(id, count)``, one whose events go to that shard."""
        guild_id = self.snowflake()
        if shard is not None:
            shard_id, count = shard
            guild_id += ((shard_id - shard_of(guild_id, count)) % count) << 22
        guild = FakeGuild(guild_id, name)
        guild.roles.append(self._role_payload(guild.id, "@everyone"))
        guild.members[self.bot.id] = []
        self.guilds[guild.id] = guild
        return guild

    def add_role(self, guild: FakeGuild, name: str) -> int:
        role = self._role_payload(self.snowflake(), name)
        guild.roles.append(role)
        return int(role["id"])

    def add_text_channel(self, guild: FakeGuild, name: str = "general") -> int:
        channel_id = self.snowflake()
        channel = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild.id),
            "name": name,
            "position": len(guild.channels),
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
        }
        guild.channels.append(channel)
        self.channels[channel_id] = channel
        return channel_id

    def add_user(
        self,
        name: str,
        *,
        guild: FakeGuild | None = None,
        roles: tuple[int, ...] = (),
        bot: bool = False,
    ) -> FakeUser:
        user = FakeUser(self.snowflake(), name, bot=bot, global_name=name.title())
        self.users[user.id] = user
        if guild is not None:
            guild.members[user.id] = list(roles)
        return user

    def open_dm(self, user: FakeUser) -> int:
        channel_id = self.snowflake()
        self.channels[channel_id] = {
            "id": str(channel_id),
            "type": 1,
            "recipients": [user.payload()],
            "last_message_id": None,
        }
        return channel_id

    async def send_message(
        self,
        channel_id: int,
        author: FakeUser,
        content: str,
        *,
        mention_bot: bool = False,
        message_type: int = 0,
        files: list[FakeFile] | tuple[FakeFile, ...] = (),
        flags: int = 0,
        reply_to: Json | None = None,
    ) -> Json:
        """A user posts ``content`` (with ``files``); the gateway gets MESSAGE_CREATE.

        Returns the message. A voice message is ``flags=VOICE_MESSAGE_FLAG`` with one
        ``audio/ogg`` file and no text. ``reply_to``: a reply to that message (type 19).
        """
        if mention_bot:
            content = f"<@{self.bot.id}> {content}"
        if reply_to is not None:
            message_type = REPLY
        message = self._message_payload(channel_id, author, content, message_type)
        if reply_to is not None:
            message["message_reference"] = self._reference_to(reply_to)
        message["flags"] = flags
        message["attachments"] = [self._attachment(f) for f in files]
        # Discord lists the users a message mentions, as user objects with their member
        mentioned = dict.fromkeys(int(i) for i in re.findall(r"<@!?(\d+)>", content))
        message["mentions"] = [
            self._with_member(self.users[i], message) for i in mentioned if i in self.users
        ]
        self._store_message(message)
        await self.dispatch("MESSAGE_CREATE", self.served(message))
        return message

    async def start_thread(self, starter: Json, owner: FakeUser, name: str) -> int:
        """``owner`` starts a thread from ``starter`` (a message in a text channel), as a
        person does in Discord's client: the thread has the starter's id, and its first
        message is a thread starter message pointing at ``starter``. Returns the thread id."""
        parent = self.channels[int(starter["channel_id"])]
        thread: Json = {
            "id": starter["id"],
            "type": 11,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(owner.id),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": now(),
                "locked": False,
                "create_timestamp": now(),
            },
        }
        thread_id = int(thread["id"])
        self.channels[thread_id] = thread
        self.guilds[int(parent["guild_id"])].threads.append(thread)
        starter["thread"] = thread
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        first = self._message_payload(thread_id, owner, "", THREAD_STARTER_MESSAGE)
        first["message_reference"] = self._reference_to(starter)
        self._store_message(first)
        await self.dispatch("MESSAGE_CREATE", self.served(first))
        return thread_id

    def _reference_to(self, message: Json) -> Json:
        reference: Json = {
            "type": 0,
            "message_id": message["id"],
            "channel_id": message["channel_id"],
        }
        if "guild_id" in message:
            reference["guild_id"] = message["guild_id"]
        return reference

    async def add_reaction(self, message: Json, user: FakeUser, emoji: str) -> None:
        self.reactions.setdefault(int(message["id"]), {}).setdefault(emoji, set()).add(user.id)
        await self.dispatch("MESSAGE_REACTION_ADD", self._reaction_payload(message, user, emoji))

    async def remove_reaction(self, message: Json, user: FakeUser, emoji: str) -> None:
        self.reactions.get(int(message["id"]), {}).get(emoji, set()).discard(user.id)
        payload = self._reaction_payload(message, user, emoji)
        payload.pop("member", None)
        await self.dispatch("MESSAGE_REACTION_REMOVE", payload)

    # ----------------------------------------------------------------- what users see

    def buttons(self, message: Json | int) -> list[Json]:
        """The buttons under a message now (``label``, ``custom_id``...), in order."""
        message_id = int(message["id"]) if isinstance(message, dict) else message
        rows = self.messages[message_id].get("components") or []
        return [b for row in rows for b in row.get("components", [])]

    def message_files(self, message: Json) -> list[FakeFile]:
        """The files attached to a message, with their bytes."""
        current = self.messages[int(message["id"])]
        return [self.files[int(a["id"])] for a in current.get("attachments", [])]

    def channel_messages(self, channel_id: int) -> list[Json]:
        return [self.messages[mid] for mid in self.history.get(channel_id, [])]

    def contents(self, channel_id: int, *, bot_only: bool = True) -> list[str]:
        """Current text of the channel's messages, oldest first (the bot's only, by default)."""
        return [
            str(m["content"])
            for m in self.channel_messages(channel_id)
            if not bot_only or m["author"]["id"] == str(self.bot.id)
        ]

    def threads(self) -> list[Json]:
        return [c for c in self.channels.values() if c["type"] == 11]

    def requests(self, method: str, pattern: str = "") -> list[RestCall]:
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]
