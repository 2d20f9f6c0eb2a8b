"""The bot token scopes the Slack adapter uses, and what breaks without each.

This table is the one list: ``docs/deploy/slack-manifest.json`` (the app
manifest the README tells admins to paste) must ask for exactly these
scopes, which ``tests/test_slack_scopes.py`` checks, and ``dify-bridge
check`` compares it with the scopes Slack granted the token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dify_bridge.config import Settings

__all__ = ["SLACK_SCOPES", "MissingScope", "SlackScope", "missing_scopes"]


def _always(_: Settings) -> bool:
    return True


def _voice_replies(settings: Settings) -> bool:
    return settings.voice_replies != "off"


def _speaker_names(settings: Settings) -> bool:
    return settings.slack is not None and settings.slack.speaker_names


@dataclass(frozen=True)
class SlackScope:
    name: str
    feature: str
    """What stops working without it, as an admin would notice."""
    required: bool = True
    """False: the bridge still answers without it (``check`` warns)."""
    used: Callable[[Settings], bool] = _always
    """Whether the settings turn on the feature that needs it."""


SLACK_SCOPES: tuple[SlackScope, ...] = (
    SlackScope("app_mentions:read", "answering mentions in channels"),
    SlackScope("chat:write", "posting and streaming answers"),
    SlackScope(
        "assistant:write",
        "the assistant view: its status line, suggested prompts and thread titles",
        required=False,
    ),
    SlackScope("channels:history", "following threads in public channels"),
    SlackScope("groups:history", "following threads in private channels"),
    SlackScope("im:history", "answering direct messages"),
    SlackScope("mpim:history", "answering group direct messages"),
    SlackScope("reactions:read", "👍/👎 reactions as feedback, 🛑 to stop", required=False),
    SlackScope("reactions:write", "the ⏳ while an answer is written", required=False),
    SlackScope(
        "users:read", "speaker names in channel questions", required=False, used=_speaker_names
    ),
    SlackScope("channels:read", "public channel names ({channel_name})", required=False),
    SlackScope("groups:read", "private channel names ({channel_name})", required=False),
    SlackScope("mpim:read", "group DM names ({channel_name})", required=False),
    SlackScope("files:read", "files and voice messages people share", required=False),
    SlackScope(
        "files:write", "spoken answers (VOICE_REPLIES)", required=False, used=_voice_replies
    ),
    SlackScope("commands", "the /dify command", required=False),
)


@dataclass(frozen=True)
class MissingScope:
    scope: SlackScope

    @property
    def required(self) -> bool:
        return self.scope.required

    def line(self) -> str:
        return f"missing scope {self.scope.name}: {self.scope.feature}"


def missing_scopes(granted: Iterable[str], settings: Settings) -> list[MissingScope]:
    """The scopes the enabled features need that the token was not granted, required first."""
    have = {scope.strip() for scope in granted if scope.strip()}
    missing = [
        MissingScope(scope)
        for scope in SLACK_SCOPES
        if scope.name not in have and scope.used(settings)
    ]
    return sorted(missing, key=lambda m: not m.required)
