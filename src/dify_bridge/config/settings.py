"""Settings, parsed once from the environment (and ``.env``) into typed values.

Every problem stops the start with :class:`ConfigError`, which names the
variable. Secrets are wrapped in :class:`Secret` so no repr, log line or
error message can show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from dify_bridge.config.reader import Reader
from dify_bridge.config.routes import Route, load_routes
from dify_bridge.config.secret import Secret
from dify_bridge.config.slack import DEFAULT_SLACK_API_URL, SlackSettings, parse_slack
from dify_bridge.errors import ConfigError

DEFAULT_DIFY_API_URL = "https://api.dify.ai/v1"
DEFAULT_DATABASE_URL = "sqlite:///dify-bridge.db"
DEFAULT_DISCORD_API_URL = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg"
MB = 1024 * 1024


@dataclass(frozen=True)
class DifySettings:
    api_url: str
    api_key: Secret
    inputs: dict[str, Any] = field(default_factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    """A stream with no bytes (pings count) for this long is abandoned."""


@dataclass(frozen=True)
class DiscordSettings:
    bot_token: Secret
    api_url: str = DEFAULT_DISCORD_API_URL
    gateway_url: str = DEFAULT_DISCORD_GATEWAY_URL
    allowed_guilds: frozenset[str] = frozenset()
    allowed_channels: frozenset[str] = frozenset()
    allowed_roles: frozenset[str] = frozenset()
    speaker_names: bool = True
    reaction_hints: bool = False
    shard_count: int = 1
    """``DISCORD_SHARD_COUNT``: gateway sessions; replicas on PostgreSQL share them out."""


@dataclass(frozen=True)
class Settings:
    dify: DifySettings
    database_url: str = DEFAULT_DATABASE_URL
    slack: SlackSettings | None = None
    discord: DiscordSettings | None = None
    routes_file: str = ""
    routes: tuple[Route, ...] = ()
    voice_replies: str = "off"
    max_download_bytes: int = 100 * MB
    """``MAX_DOWNLOAD_MB``: the cap above every download's own limit."""
    max_recording_bytes: int = 15 * MB
    """``MAX_RECORDING_MB``: the largest recording sent to speech to text (Dify's limit: 15)."""
    shutdown_grace: float = 20.0
    log_level: str = "INFO"
    log_json: bool = False
    max_query_chars: int = 20_000
    stop_button: bool = True
    feedback_buttons: bool = True
    suggested_questions: bool = True
    show_citations: bool = True
    opening_statement: bool = False
    metrics_port: int | None = None
    host: str = "0.0.0.0"
    questions_per_user_per_minute: int = 0
    questions_per_channel_per_minute: int = 0

    @property
    def secrets(self) -> list[str]:
        """Every token and key, so logs can mask them."""
        values = [self.dify.api_key.value, *(r.api_key.value for r in self.routes)]
        if self.slack is not None:
            values += [
                self.slack.bot_token.value,
                self.slack.app_token.value,
                self.slack.signing_secret.value,
                self.slack.client_secret.value,
                self.slack.token_encryption_key.value,
            ]
        if self.discord is not None:
            values.append(self.discord.bot_token.value)
        return [v for v in values if v]

    @property
    def has_platform(self) -> bool:
        return self.slack is not None or self.discord is not None


def load_environment(env_file: str | Path = ".env") -> dict[str, str]:
    """The process environment on top of ``.env`` (the environment wins)."""
    merged: dict[str, str] = {}
    path = Path(env_file)
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ)
    return merged


def parse_settings(env: Mapping[str, str]) -> Settings:
    """Validate ``env`` and return typed settings, or raise :class:`ConfigError`."""
    reader = Reader(env)
    dify = DifySettings(
        api_url=reader.url("DIFY_API_URL", DEFAULT_DIFY_API_URL, schemes=("http", "https")),
        api_key=reader.secret("DIFY_API_KEY"),
        inputs=reader.json_object("DIFY_INPUTS"),
        connect_timeout=reader.number("DIFY_CONNECT_TIMEOUT", 10.0),
        read_timeout=reader.number("DIFY_READ_TIMEOUT", 60.0),
    )
    host, port = reader.text("HOST") or "0.0.0.0", reader.port("PORT", 3000)
    slack = parse_slack(reader, host, port)
    discord: DiscordSettings | None = None
    if reader.text("DISCORD_BOT_TOKEN"):
        discord = DiscordSettings(
            bot_token=reader.secret("DISCORD_BOT_TOKEN", required=True),
            api_url=reader.url(
                "DISCORD_API_URL", DEFAULT_DISCORD_API_URL, schemes=("http", "https")
            ).rstrip("/"),
            gateway_url=reader.url(
                "DISCORD_GATEWAY_URL", DEFAULT_DISCORD_GATEWAY_URL, schemes=("ws", "wss")
            ),
            allowed_guilds=reader.id_set("DISCORD_ALLOWED_GUILDS"),
            allowed_channels=reader.id_set("DISCORD_ALLOWED_CHANNELS"),
            allowed_roles=reader.id_set("DISCORD_ALLOWED_ROLES"),
            speaker_names=reader.flag("DISCORD_SPEAKER_NAMES", True),
            reaction_hints=reader.flag("DISCORD_REACTION_HINTS", False),
            shard_count=reader.count("DISCORD_SHARD_COUNT", 1),
        )
    database_url = reader.text("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(
            "DATABASE_URL", "expected sqlite:///relative.db, sqlite:////abs.db or postgresql://..."
        )
    voice = (reader.text("VOICE_REPLIES") or "off").lower()
    if voice not in ("off", "auto", "always"):
        raise ConfigError("VOICE_REPLIES", f"expected off, auto or always, got {voice!r}")
    max_recording_mb = reader.number("MAX_RECORDING_MB", 15.0)
    if max_recording_mb > 15:
        raise ConfigError("MAX_RECORDING_MB", "Dify transcribes at most 15 MB")
    log_level = (reader.text("LOG_LEVEL") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("LOG_LEVEL", "expected DEBUG, INFO, WARNING or ERROR")
    routes_file = reader.text("DIFY_ROUTES_FILE")
    routes: tuple[Route, ...] = ()
    if routes_file:
        routes = tuple(load_routes(routes_file, default_api_url=dify.api_url))
    metrics_port = reader.port("METRICS_PORT", 0) if reader.text("METRICS_PORT") else None
    if slack is not None and not slack.socket_mode and metrics_port and metrics_port == port:
        raise ConfigError("METRICS_PORT", f"must differ from PORT ({port}), Slack's events port")
    return Settings(
        dify=dify,
        database_url=database_url,
        slack=slack,
        discord=discord,
        routes_file=routes_file,
        routes=routes,
        voice_replies=voice,
        max_download_bytes=int(reader.number("MAX_DOWNLOAD_MB", 100.0) * MB),
        max_recording_bytes=int(max_recording_mb * MB),
        shutdown_grace=reader.number("SHUTDOWN_GRACE_SECONDS", 20.0),
        log_level=log_level,
        log_json=reader.flag("LOG_JSON", False),
        max_query_chars=int(reader.number("MAX_QUERY_CHARS", 20_000)),
        stop_button=reader.flag("STOP_BUTTON", True),
        feedback_buttons=reader.flag("FEEDBACK_BUTTONS", True),
        suggested_questions=reader.flag("SUGGESTED_QUESTIONS", True),
        show_citations=reader.flag("SHOW_CITATIONS", True),
        opening_statement=reader.flag("OPENING_STATEMENT", False),
        metrics_port=metrics_port,
        host=host,
        questions_per_user_per_minute=int(reader.number("QUESTIONS_PER_USER_PER_MINUTE", 0)),
        questions_per_channel_per_minute=int(reader.number("QUESTIONS_PER_CHANNEL_PER_MINUTE", 0)),
    )


__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_DIFY_API_URL",
    "DEFAULT_DISCORD_API_URL",
    "DEFAULT_DISCORD_GATEWAY_URL",
    "DEFAULT_SLACK_API_URL",
    "DifySettings",
    "DiscordSettings",
    "Settings",
    "SlackSettings",
    "load_environment",
    "parse_settings",
]
