"""slack-sdk's installation and OAuth state stores, kept in the bridge's store.

Like slack-sdk's file store, the latest installation of a workspace is kept
(and each installing user's), and its bot; the rows live in the tables of
:class:`~dify_bridge.core.InstallationRecords`, so every replica sees them.
The tokens are kept apart from the rest of an installation: as JSON, or
with ``TOKEN_ENCRYPTION_KEY`` as a Fernet token (:class:`TokenCipher`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from dify_bridge.core import BridgeError, InstallationRecord, InstallationRecords

from .boundary import StoreUnreachable

__all__ = [
    "STATE_SECONDS",
    "StoreAuthorize",
    "StoredInstallations",
    "StoredStates",
    "TokenCipher",
    "team_key",
]

log = logging.getLogger(__name__)

STATE_SECONDS = 600
"""An install must come back from Slack within 10 minutes (bolt's state cookie lives as long)."""
TOKEN_FIELDS = (
    "bot_token",
    "bot_refresh_token",
    "user_token",
    "user_refresh_token",
    "incoming_webhook_url",
)


_lookup_failure: contextvars.ContextVar[BridgeError | None] = contextvars.ContextVar(
    "slack_installation_lookup_failure", default=None
)


class UnreadableTokens(Exception):
    """The stored tokens are encrypted with another key, or with a key no longer set."""


class TokenCipher:
    """Tokens as stored: plain JSON without a key, else a Fernet token of that JSON."""

    def __init__(self, key: str) -> None:
        self._fernet = None
        if key:
            from cryptography.fernet import Fernet

            self._fernet = Fernet(key)

    def seal(self, tokens: dict[str, Any]) -> str:
        text = json.dumps(tokens)
        return text if self._fernet is None else self._fernet.encrypt(text.encode()).decode()

    def unseal(self, stored: str) -> dict[str, Any]:
        if stored.startswith("{"):  # stored before a key was set: still readable
            return dict(json.loads(stored))
        if self._fernet is None:
            raise UnreadableTokens("they are encrypted and TOKEN_ENCRYPTION_KEY is not set")
        from cryptography.fernet import InvalidToken

        try:
            return dict(json.loads(self._fernet.decrypt(stored.encode())))
        except InvalidToken:
            raise UnreadableTokens(
                "TOKEN_ENCRYPTION_KEY is not the key they were sealed with"
            ) from None


def team_key(enterprise_id: str | None, team_id: str | None, org_wide: bool = False) -> str:
    """One key per workspace (or per organization, for an org-wide install)."""
    return f"{enterprise_id or '-'}:{'-' if org_wide else team_id or '-'}"


class StoredInstallations(AsyncInstallationStore):
    """slack-sdk's ``AsyncInstallationStore`` on the bridge's store."""

    def __init__(
        self,
        records: InstallationRecords,
        cipher: TokenCipher,
        on_deleted: Callable[[str], None] = lambda team_id: None,
    ) -> None:
        self._records = records
        self._cipher = cipher
        self._on_deleted = on_deleted

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        key = team_key(
            installation.enterprise_id, installation.team_id, installation.is_enterprise_install
        )
        body, tokens = self._split(installation.__dict__)
        rows = [InstallationRecord(f"{key}:", key, body, tokens)]
        if installation.user_id:
            rows.append(InstallationRecord(f"{key}:{installation.user_id}", key, body, tokens))
        await self._records.save_installation(rows)
        if installation.bot_token:
            await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        key = team_key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        body, tokens = self._split(bot.__dict__)
        await self._records.save_bot(InstallationRecord(key, key, body, tokens))

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        key = team_key(enterprise_id, team_id, bool(is_enterprise_install))
        try:
            record = await self._records.bot(key)
        except BridgeError as exc:  # bolt takes any failure here for "not installed"
            _lookup_failure.set(exc)
            raise
        found = self._open(record)
        return None if found is None else Bot(**found)

    async def find_bot_of_team(self, team_id: str) -> Bot | None:
        """The bot of ``team_id`` when its organization is not known (an answer's key
        names only the workspace)."""
        found = self._open(await self._records.bot_of_team(team_id))
        return None if found is None else Bot(**found)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = team_key(enterprise_id, team_id, bool(is_enterprise_install))
        found = self._open(await self._records.installation(f"{key}:{user_id or ''}"))
        return None if found is None else Installation(**found)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._records.delete_bot(team_key(enterprise_id, team_id))
        self._on_deleted(team_id or "")

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        key = team_key(enterprise_id, team_id)
        await self._records.delete_installations(
            key, None if user_id is None else f"{key}:{user_id}"
        )
        if user_id is None:
            self._on_deleted(team_id or "")

    def _split(self, fields: dict[str, Any]) -> tuple[str, str]:
        tokens = {name: fields[name] for name in TOKEN_FIELDS if fields.get(name) is not None}
        body = {name: value for name, value in fields.items() if name not in TOKEN_FIELDS}
        return json.dumps(body), self._cipher.seal(tokens)

    def _open(self, record: InstallationRecord | None) -> dict[str, Any] | None:
        if record is None:
            return None
        try:
            tokens = self._cipher.unseal(record.tokens)
        except UnreadableTokens as exc:
            log.error("the Slack installation %s cannot be used: %s", record.team_key, exc)
            return None
        fields: dict[str, Any] = json.loads(record.body)
        return {**fields, **tokens}


class StoreAuthorize(AsyncInstallationStoreAuthorize):
    """bolt's authorization from the installation store, except that a store that cannot
    answer raises :class:`~.boundary.StoreUnreachable`: bolt would tell the user to reinstall
    the app and acknowledge the event, which Slack then never sends again."""

    async def __call__(self, **kwargs: Any) -> AuthorizeResult | None:
        before = _lookup_failure.set(None)
        try:
            result = await super().__call__(**kwargs)
            failure = _lookup_failure.get()
        finally:
            _lookup_failure.reset(before)
        if result is None and failure is not None:
            raise StoreUnreachable(str(failure)) from None
        return result


class StoredStates(AsyncOAuthStateStore):
    """slack-sdk's ``AsyncOAuthStateStore``: each state issued once, good for one use."""

    def __init__(self, records: InstallationRecords, expiration_seconds: int = STATE_SECONDS):
        self._records = records
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self._records.issue_state(state, time.time() + self.expiration_seconds)
        return state

    async def async_consume(self, state: str) -> bool:
        return bool(state) and await self._records.consume_state(state, time.time())
