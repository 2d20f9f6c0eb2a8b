"""Which token and bot identity each workspace's calls use.

With ``SLACK_BOT_TOKEN`` there is one workspace: one client, one identity
(``auth.test`` once). With OAuth every workspace has its own installation:
bolt's authorization finds it in the store for each request, and
:meth:`SlackWorkspaces.remember` (a bolt middleware, run after that) keeps
the workspace's client and identity, so every Web API call and file download
for a team uses that team's token. An uninstalled workspace is forgotten; its
next request finds no installation in the store and reaches no listener.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.core import BoundedDict

from .client import SlackCallFailed, call_slack
from .events import BotIdentity

__all__ = ["ClientFactory", "SlackWorkspaces", "team_of"]

log = logging.getLogger(__name__)

REMEMBERED = 10_000
"""Workspaces whose client stays ready; an older one is looked up again at its next event."""

ClientFactory = Callable[[str, str], AsyncWebClient]
"""(token, team id) → a configured client for that workspace."""


class SlackWorkspaces:
    """Each workspace's client and identity; one of each without OAuth."""

    def __init__(self, client: AsyncWebClient, make_client: ClientFactory, *, oauth: bool) -> None:
        self._client = client
        self._make_client = make_client
        self._oauth = oauth
        self._single: BotIdentity | None = None
        self._teams = BoundedDict[str, tuple[AsyncWebClient, BotIdentity]](REMEMBERED)

    @property
    def oauth(self) -> bool:
        return self._oauth

    def client(self, team_id: str) -> AsyncWebClient:
        """The client with ``team_id``'s token (the one client without OAuth)."""
        if not self._oauth:
            return self._client
        known = self._teams.get(team_id)
        if known is None:  # no request of this team got through authorization here
            raise SlackCallFailed("authorize", f"workspace {team_id or '?'} is not installed")
        return known[0]

    def token(self, team_id: str) -> str:
        return self.client(team_id).token or ""

    async def identity(self, team_id: str = "") -> BotIdentity:
        """Who the bot is in ``team_id`` (``auth.test`` of the single token, else the install)."""
        if self._oauth:
            known = self._teams.get(team_id)
            if known is None:
                raise SlackCallFailed("authorize", f"workspace {team_id or '?'} is not installed")
            return known[1]
        if self._single is None:
            self._single = await identify(self._client)
        return self._single

    async def remember(
        self,
        context: AsyncBoltContext,
        body: dict[str, Any],
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        """Bolt middleware: keep the authorized workspace's client and identity.

        The listeners take the workspace from ``body["team_id"]``, which is set to the
        authorized one: in a Slack Connect channel another workspace created, Slack's
        ``team_id`` is that workspace's, where the app may not be installed."""
        team_id, token = context.team_id or "", context.bot_token or ""
        if self._oauth and team_id and token:
            if isinstance(body, dict):
                body["team_id"] = team_id
            known = self._teams.get(team_id)
            if known is None or known[0].token != token:
                client = self._make_client(token, team_id)
                client.session = self._client.session
            else:
                client = known[0]
            result = context.authorize_result
            identity = BotIdentity(
                team_id=team_id,
                user_id=context.bot_user_id or "",
                bot_id=context.bot_id or "",
                workspace_url=str(result.url or "") if result is not None else "",
            )
            self._teams[team_id] = (client, identity)
        return await next()

    def forget(self, team_id: str) -> None:
        self._teams.pop(team_id)


async def identify(client: AsyncWebClient) -> BotIdentity:
    data = await call_slack("auth.test", client.auth_test())
    return BotIdentity(
        team_id=str(data.get("team_id") or ""),
        user_id=str(data.get("user_id") or ""),
        bot_id=str(data.get("bot_id") or ""),
        workspace_url=str(data.get("url") or ""),
    )


def team_of(body: Mapping[str, Any]) -> str:
    """The workspace a payload is for, where Slack puts it (events, clicks, views, commands)."""
    for value in (
        body.get("team_id"),
        _field(body.get("team"), "id"),
        _field(body.get("event"), "team"),
        _field(body.get("user"), "team_id"),
        _field(body.get("view"), "team_id"),
    ):
        if isinstance(value, str) and value:
            return value
    return ""


def _field(value: object, name: str) -> object:
    return value.get(name) if isinstance(value, Mapping) else None
