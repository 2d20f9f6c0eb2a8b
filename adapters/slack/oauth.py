"""Installing into many workspaces: slack-bolt's OAuth flow on the bridge's store.

``GET /slack/install`` gives the "Add to Slack" page (with a state, kept in
the store and in a cookie for 10 minutes); Slack sends the browser back to
``GET /slack/oauth_redirect`` with a code, which ``oauth.v2.access`` turns
into the workspace's bot token. A state is good once (a forged, replayed or
expired one gets bolt's failure page). ``SLACK_ALLOWED_TEAMS`` refuses the
other workspaces with a page that says so, before anything is saved.
(its new token is revoked at once). ``tokens_revoked`` / ``app_uninstalled``
delete the workspace's installation.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.config import SlackSettings
from dify_bridge.core import InstallationRecords
from dify_bridge.ops.slack_scopes import SLACK_SCOPES

from .client import SlackCallFailed, call_slack
from .installations import (
    STATE_SECONDS,
    StoreAuthorize,
    StoredInstallations,
    StoredStates,
    TokenCipher,
)
from .workspaces import SlackWorkspaces

__all__ = ["INSTALL_PATH", "REDIRECT_PATH", "oauth_flow", "register_uninstall_listeners"]

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


class TeamNotAllowed(BoltError):
    """The workspace is not in ``SLACK_ALLOWED_TEAMS``."""

    def __init__(self, team_id: str, team_name: str) -> None:
        super().__init__(f"workspace {team_id} is not in SLACK_ALLOWED_TEAMS")
        self.team_id = team_id
        self.team_name = team_name


class BridgeOAuthFlow(AsyncOAuthFlow):
    """bolt's flow, refusing workspaces outside ``SLACK_ALLOWED_TEAMS`` before saving."""

    allowed_teams: frozenset[str] = frozenset()
    installations: StoredInstallations

    async def store_installation(
        self, request: AsyncBoltRequest, installation: Installation
    ) -> None:
        team_id = installation.team_id or installation.enterprise_id or ""
        if self.allowed_teams and team_id not in self.allowed_teams:
            await self._revoke(installation.bot_token)
            raise TeamNotAllowed(team_id, installation.team_name or "")
        await super().store_installation(request, installation)
        log.info(
            "installed in Slack workspace %s (%s)", installation.team_id, installation.team_name
        )

    async def _revoke(self, token: str | None) -> None:
        """Slack installed the app when it gave the token: take that back too."""
        if not token:
            return
        try:
            await call_slack("auth.revoke", self.client.auth_revoke(token=token))
        except SlackCallFailed as exc:
            log.warning("the refused workspace's token was not revoked: %s", exc.error)


def oauth_flow(
    settings: SlackSettings,
    records: InstallationRecords,
    workspaces: SlackWorkspaces,
    client: AsyncWebClient,
) -> BridgeOAuthFlow:
    """The flow, its stores on ``records``; ``client`` (no token) calls ``oauth.v2.access``."""
    store = StoredInstallations(
        records, TokenCipher(settings.token_encryption_key.value), on_deleted=workspaces.forget
    )
    oauth = AsyncOAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret.value,
        scopes=list(settings.scopes or (scope.name for scope in SLACK_SCOPES)),
        redirect_uri=settings.redirect_uri or None,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=store,
        installation_store_bot_only=True,
        state_store=StoredStates(records, STATE_SECONDS),
        state_expiration_seconds=STATE_SECONDS,
        callback_options=AsyncCallbackOptions(success=_succeeded, failure=_failed),
        logger=log,
    )
    oauth.authorize = StoreAuthorize(  # bolt's own, but a store that is down is not "not installed"
        logger=log,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        installation_store=store,
        bot_only=True,
    )
    flow = BridgeOAuthFlow(client=client, logger=log, settings=oauth)
    flow.allowed_teams = settings.allowed_teams
    flow.installations = store
    return flow


def register_uninstall_listeners(app: AsyncApp, store: StoredInstallations) -> None:
    """Slack says the tokens are gone: delete them, so nothing more is sent with them."""

    async def tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
        found = event.get("tokens")
        tokens: dict[str, Any] = found if isinstance(found, dict) else {}
        for user_id in tokens.get("oauth") or []:
            await store.async_delete_installation(
                enterprise_id=context.enterprise_id, team_id=context.team_id, user_id=str(user_id)
            )
        if tokens.get("bot"):  # the installation holds the bot token too
            await _delete_workspace(store, context)

    async def app_uninstalled(context: AsyncBoltContext) -> None:
        await _delete_workspace(store, context)

    app.event("tokens_revoked")(tokens_revoked)
    app.event("app_uninstalled")(app_uninstalled)


async def _delete_workspace(store: StoredInstallations, context: AsyncBoltContext) -> None:
    await store.async_delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
    log.info("uninstalled from Slack workspace %s: its tokens are deleted", context.team_id)


async def _succeeded(args: AsyncSuccessArgs) -> BoltResponse:
    response: BoltResponse = await args.default.success(args)
    return response


async def _failed(args: AsyncFailureArgs) -> BoltResponse:
    if isinstance(args.error, TeamNotAllowed):
        log.warning("refused an install into Slack workspace %s", args.error.team_id)
        name = html.escape(args.error.team_name or args.error.team_id)
        return BoltResponse(
            status=403,
            body=(
                "<html><head><title>Not allowed</title></head><body>"
                f"<h2>This app may not be installed in {name}</h2>"
                "<p>Its administrators allow it only in some workspaces "
                "(SLACK_ALLOWED_TEAMS). Nothing was installed.</p></body></html>"
            ),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
    log.info("a Slack install failed: %s", args.reason)
    response: BoltResponse = await args.default.failure(args)
    return response
