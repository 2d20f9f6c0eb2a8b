"""What the fake Discord keeps: users, guilds, files, REST calls, interaction answers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.bodies import Serving

DISCORD_EPOCH_MS = 1_420_070_400_000
MESSAGE_CONTENT_INTENT = 1 << 15
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | MESSAGE_CONTENT_INTENT

Json = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> Json:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class FakeGuild:
    id: int
    name: str
    channels: list[Json] = field(default_factory=list)
    threads: list[Json] = field(default_factory=list)
    roles: list[Json] = field(default_factory=list)
    members: dict[int, list[int]] = field(default_factory=dict)
    """user id -> role ids"""


@dataclass
class RestCall:
    method: str
    path: str
    """Path below the API base, e.g. ``/channels/1/messages``."""
    json: Any
    status: int = 0


@dataclass
class FakeFile:
    """A file on a message: one a user attached, or one the bot uploaded."""

    filename: str
    content_type: str
    data: bytes
    declared_size: int | None = None
    """The attachment's ``size`` as Discord states it (None: the true size)."""
    serving: Serving = field(default_factory=Serving)
    """How the CDN serves the download (always in small pieces)."""


@dataclass
class InteractionCallback:
    """What the bot answered to one interaction (``POST /interactions/{id}/{token}/callback``)."""

    interaction_id: int
    type: int
    """6: deferred update (a button acknowledged), 4: a message, 5: deferred message,
    9: a modal (:mod:`tests.fakes.discord.modals`)."""
    data: Json | None


CALL = web.RequestKey("call", RestCall)
FILES = web.RequestKey("files", list[FakeFile])
VOICE_MESSAGE_FLAG = 1 << 13
REPLY = 19
THREAD_STARTER_MESSAGE = 21
"""The first message of a thread started from a message: it points at that message."""
EPHEMERAL_FLAG = 1 << 6


@dataclass
class RateLimitRule:
    method: str
    path: re.Pattern[str]
    count: int
    retry_after: float
    is_global: bool


@dataclass
class Bucket:
    limit: int
    window: float
    used: int = 0
    reset_at: float = 0.0
