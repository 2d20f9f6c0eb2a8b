"""Settings: read once from the environment (and ``.env``) into typed values.

Every bad setting stops the start with one line naming the variable
(:class:`~dify_bridge.errors.ConfigError`); secrets are :class:`Secret` values.
"""

from dify_bridge.config.routes import Route, load_routes
from dify_bridge.config.secret import Secret
from dify_bridge.config.settings import (
    DEFAULT_DATABASE_URL,
    DEFAULT_DIFY_API_URL,
    DEFAULT_DISCORD_API_URL,
    DEFAULT_DISCORD_GATEWAY_URL,
    DEFAULT_SLACK_API_URL,
    DifySettings,
    DiscordSettings,
    Settings,
    SlackSettings,
    load_environment,
    parse_settings,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_DIFY_API_URL",
    "DEFAULT_DISCORD_API_URL",
    "DEFAULT_DISCORD_GATEWAY_URL",
    "DEFAULT_SLACK_API_URL",
    "DifySettings",
    "DiscordSettings",
    "Route",
    "Secret",
    "Settings",
    "SlackSettings",
    "load_environment",
    "load_routes",
    "parse_settings",
]
