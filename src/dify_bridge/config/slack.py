"""The Slack settings: one workspace's bot token, or OAuth for many workspaces.

- ``SLACK_BOT_TOKEN`` with ``SLACK_APP_TOKEN`` (Socket Mode) or
  ``SLACK_SIGNING_SECRET`` (HTTP mode): one workspace.
- ``SLACK_CLIENT_ID``, ``SLACK_CLIENT_SECRET`` and ``SLACK_SIGNING_SECRET``
  without a bot token: HTTP mode installs into any number of workspaces
  (``GET /slack/install``); each one's token is kept in the store,
  encrypted with ``TOKEN_ENCRYPTION_KEY`` when it is set.
"""

from __future__ import annotations

from dataclasses import dataclass

from dify_bridge.config.reader import Reader
from dify_bridge.config.secret import Secret
from dify_bridge.errors import ConfigError

__all__ = ["DEFAULT_SLACK_API_URL", "SlackSettings", "parse_slack"]

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_NO_SECRET = Secret("")
_SLACK_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
)


@dataclass(frozen=True)
class SlackSettings:
    bot_token: Secret
    app_token: Secret
    signing_secret: Secret
    api_url: str = DEFAULT_SLACK_API_URL
    host: str = "0.0.0.0"
    port: int = 3000
    allowed_channels: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    speaker_names: bool = True
    edits_per_minute: float = 45.0
    """Workspace-wide budget of ``chat.update`` calls, below Slack's Tier 3 (~50)."""
    streaming: str = "auto"
    """``SLACK_STREAMING``: ``auto`` streams answers in threads, ``edits`` only edits."""
    thread_context: bool = True
    """``SLACK_THREAD_CONTEXT``: a mention in a thread brings its earlier messages."""
    client_id: str = ""
    """``SLACK_CLIENT_ID``: with no bot token, OAuth installs into many workspaces."""
    client_secret: Secret = _NO_SECRET
    scopes: tuple[str, ...] = ()
    """``SLACK_SCOPES``; empty: every scope the bridge's features use."""
    redirect_uri: str = ""
    """``SLACK_REDIRECT_URI``; empty: the one registered with the Slack app."""
    token_encryption_key: Secret = _NO_SECRET
    """``TOKEN_ENCRYPTION_KEY``: a Fernet key; empty: tokens are stored as they are."""
    allowed_teams: frozenset[str] = frozenset()
    """``SLACK_ALLOWED_TEAMS``: the workspaces that may install (empty: any)."""

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @property
    def oauth(self) -> bool:
        """Many workspaces, each with the token its install gave (no ``SLACK_BOT_TOKEN``)."""
        return not self.bot_token and bool(self.client_id)


def parse_slack(reader: Reader, host: str, port: int) -> SlackSettings | None:
    """The Slack settings, None if no Slack variable is set; half a set-up is an error."""
    if not any(reader.text(name) for name in _SLACK_NAMES):
        return None
    oauth = not reader.text("SLACK_BOT_TOKEN") and bool(
        reader.text("SLACK_CLIENT_ID") or reader.text("SLACK_CLIENT_SECRET")
    )
    slack = SlackSettings(
        bot_token=reader.secret("SLACK_BOT_TOKEN", required=not oauth, prefix="xoxb-"),
        app_token=reader.secret("SLACK_APP_TOKEN", prefix="xapp-"),
        signing_secret=reader.secret("SLACK_SIGNING_SECRET"),
        api_url=reader.url("SLACK_API_URL", DEFAULT_SLACK_API_URL, schemes=("http", "https")),
        host=host,
        port=port,
        allowed_channels=reader.id_set("SLACK_ALLOWED_CHANNELS"),
        allowed_users=reader.id_set("SLACK_ALLOWED_USERS"),
        speaker_names=reader.flag("SLACK_SPEAKER_NAMES", True),
        edits_per_minute=reader.number("SLACK_EDITS_PER_MINUTE", 45.0),
        streaming=(reader.text("SLACK_STREAMING") or "auto").lower(),
        thread_context=reader.flag("SLACK_THREAD_CONTEXT", True),
        client_id=reader.text("SLACK_CLIENT_ID"),
        client_secret=reader.secret("SLACK_CLIENT_SECRET", required=oauth),
        scopes=tuple(sorted(reader.id_set("SLACK_SCOPES"))),
        redirect_uri=_redirect_uri(reader),
        token_encryption_key=_fernet_key(reader),
        allowed_teams=reader.id_set("SLACK_ALLOWED_TEAMS"),
    )
    if slack.streaming not in ("auto", "edits"):
        raise ConfigError("SLACK_STREAMING", f"expected auto or edits, got {slack.streaming!r}")
    if oauth:
        _check_oauth(slack)
    elif not slack.app_token and not slack.signing_secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET",
            "set it (HTTP mode) or SLACK_APP_TOKEN (Socket Mode) next to SLACK_BOT_TOKEN",
        )
    if not slack.api_url.endswith("/"):
        raise ConfigError("SLACK_API_URL", "must end with '/', like https://slack.com/api/")
    return slack


def _check_oauth(slack: SlackSettings) -> None:
    if not slack.client_id:
        raise ConfigError("SLACK_CLIENT_ID", "is required next to SLACK_CLIENT_SECRET (OAuth)")
    if slack.app_token:
        raise ConfigError(
            "SLACK_APP_TOKEN",
            "Socket Mode needs SLACK_BOT_TOKEN: installing into many workspaces "
            "(SLACK_CLIENT_ID) works in HTTP mode only, so unset SLACK_APP_TOKEN",
        )
    if not slack.signing_secret:
        raise ConfigError(
            "SLACK_SIGNING_SECRET", "is required with SLACK_CLIENT_ID (OAuth runs in HTTP mode)"
        )


def _redirect_uri(reader: Reader) -> str:
    if not reader.text("SLACK_REDIRECT_URI"):
        return ""
    return reader.url("SLACK_REDIRECT_URI", "", schemes=("http", "https"))


def _fernet_key(reader: Reader) -> Secret:
    key = reader.secret("TOKEN_ENCRYPTION_KEY")
    if key:
        from cryptography.fernet import Fernet  # only a deployment that sets the key needs it

        try:
            Fernet(key.value)
        except ValueError:
            raise ConfigError(
                "TOKEN_ENCRYPTION_KEY",
                "is not a Fernet key (32 url-safe base64-encoded bytes); make one with "
                "python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
            ) from None
    return key
