"""The names the bridge stores things under: one formatter and one parser each.

A key is stored (threads, answers, claims) and a thread key is also the Dify
``user`` of a new thread, so these formats are part of every deployment's
data: changing one orphans conversations. ``tests/test_keys.py`` pins them.

- thread: ``slack:{team}:{channel}:{thread_ts}``, ``slack:{team}:{channel}:dm``
  (a DM's top level), ``discord:{guild_id}:{channel_id}``,
  ``discord:dm:{channel_id}``, ``console:local:{n}``
- message the bot posted: ``slack:{team}:{channel}:{ts}``,
  ``slack-file:{team}:{channel}:{file_id}`` (a spoken answer, uploaded),
  ``discord:{channel_id}:{message_id}``, ``console:console:local:{n}:{m}``
- event (claimed once, so a redelivery is not answered twice):
  ``slack-msg:{team}:{channel}:{ts}`` (the ``app_mention`` and the ``message``
  of one message share it), ``slack-event:{event_id}`` (one delivery, retried),
  ``discord-msg:{message_id}``, ``discord-interaction:{interaction_id}``
- route scope: ``slack:{channel or team}``, ``discord:{channel}``,
  ``discord:guild:{guild}`` (the keys of ``DIFY_ROUTES_FILE``)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EventKey", "MessageKey", "RouteScope", "ThreadKey", "dify_user_for"]

_SEPARATOR = ":"


def _join(parts: tuple[str, ...]) -> str:
    return _SEPARATOR.join(parts)


@dataclass(frozen=True, order=True)
class ThreadKey:
    """One conversation: a platform thread, a DM, a console thread."""

    platform: str
    parts: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.platform or not self.parts or any(not p for p in self.parts):
            raise ValueError(f"incomplete thread key: {self.platform!r} {self.parts!r}")

    def __str__(self) -> str:
        return _join((self.platform, *self.parts))

    @classmethod
    def parse(cls, text: str) -> ThreadKey:
        platform, *parts = text.split(_SEPARATOR)
        return cls(platform, tuple(parts))

    @classmethod
    def slack(cls, team: str, channel: str, thread_ts: str | None) -> ThreadKey:
        """A channel or DM thread by its root ``ts``; None: a DM's top level."""
        return cls("slack", (team, channel, thread_ts or "dm"))

    @classmethod
    def discord(cls, guild_id: int | None, channel_id: int) -> ThreadKey:
        """A guild thread (or channel), or a DM channel (``guild_id`` None)."""
        return cls("discord", ("dm" if guild_id is None else str(guild_id), str(channel_id)))

    @classmethod
    def console(cls, number: int) -> ThreadKey:
        return cls("console", ("local", str(number)))

    @property
    def channel(self) -> str:
        """The channel part: the place a /status without a thread speaks of."""
        return _join((self.platform, *self.parts[:-1]))


@dataclass(frozen=True)
class MessageKey:
    """A message the bot posted; a reaction or a click names it again."""

    platform: str
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return _join((self.platform, *self.parts))

    @classmethod
    def parse(cls, text: str) -> MessageKey:
        platform, *parts = text.split(_SEPARATOR)
        if not platform or not parts:
            raise ValueError(f"not a message key: {text!r}")
        return cls(platform, tuple(parts))

    @classmethod
    def slack(cls, team: str, channel: str, ts: str) -> MessageKey:
        return cls("slack", (team, channel, ts))

    @classmethod
    def slack_file(cls, team: str, channel: str, file_id: str) -> MessageKey:
        """A file the bot uploaded: Slack gives no message ts for it."""
        return cls("slack-file", (team, channel, file_id))

    @classmethod
    def discord(cls, channel_id: int, message_id: int) -> MessageKey:
        return cls("discord", (str(channel_id), str(message_id)))

    @classmethod
    def console(cls, thread: ThreadKey, number: int) -> MessageKey:
        """``console:{thread key}:{n}`` (the thread key keeps its own ``console:``)."""
        return cls("console", (*str(thread).split(_SEPARATOR), str(number)))


@dataclass(frozen=True)
class EventKey:
    """One platform event, claimed once: a redelivery of it is not answered again."""

    value: str

    def __str__(self) -> str:
        return self.value

    @classmethod
    def slack_message(cls, team: str, channel: str, ts: str) -> EventKey:
        """A user's message, whichever event (``app_mention`` or ``message``) brings it."""
        return cls(_join(("slack-msg", team, channel, ts)))

    @classmethod
    def discord_message(cls, message_id: int) -> EventKey:
        """A Discord message: gateway replays and resumes deliver it again."""
        return cls(_join(("discord-msg", str(message_id))))

    @classmethod
    def discord_interaction(cls, interaction_id: int) -> EventKey:
        """A click on a Discord button that asks a question."""
        return cls(_join(("discord-interaction", str(interaction_id))))

    @classmethod
    def click(cls, message_key: str, user_id: str, value: str) -> EventKey:
        """One person's click on one button value of one message (a repeat is ignored)."""
        return cls(_join(("click", message_key, user_id, value)))

    @classmethod
    def slack_delivery(cls, event_id: str) -> EventKey:
        """One delivery of an Events API event (Slack retries it with the same id)."""
        return cls(_join(("slack-event", event_id)))


@dataclass(frozen=True)
class RouteScope:
    """Where a message came from, as ``DIFY_ROUTES_FILE`` names places."""

    value: str

    def __str__(self) -> str:
        return self.value

    @classmethod
    def slack(cls, channel_or_team: str) -> RouteScope:
        return cls(f"slack:{channel_or_team}")

    @classmethod
    def discord_channel(cls, channel_id: int | str) -> RouteScope:
        return cls(f"discord:{channel_id}")

    @classmethod
    def discord_guild(cls, guild_id: int | str) -> RouteScope:
        return cls(f"discord:guild:{guild_id}")


def dify_user_for(thread: ThreadKey | str) -> str:
    """The Dify ``user`` a new thread talks as: its key, so no two threads share one.

    Stored with the thread, so an existing thread keeps the user it started with.
    """
    return str(thread)
