"""OAuth: the user's "Allow" on slack.com, ``oauth.v2.access``, and uninstalling.

As Slack documents ``oauth.v2.access``: the app's client id and secret come as
HTTP Basic auth (preferred) or as form fields; a code is good once, for the
workspace whose user allowed the install; the answer carries the bot token,
``bot_user_id``, ``team {id, name}``, ``enterprise`` (null, or ``{id, name}`` for a
workspace of an Enterprise Grid organization),
``is_enterprise_install`` false, ``scope``, ``token_type`` ``bot`` and
``app_id``. Errors: ``invalid_client_id``, ``bad_client_secret``,
``invalid_code``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from tests.fakes.slack.records import APP_ID, CLIENT_ID, CLIENT_SECRET, Workspace
from tests.fakes.slack.state import SlackState


class OAuth(SlackState):
    """Installs into more workspaces than the home one (``event_callback`` is Events')."""

    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET

    def allow_install(self, team_id: str, name: str = "", *, enterprise_id: str = "") -> str:
        """A user of ``team_id`` (of the organization ``enterprise_id``, if given) clicks
        "Allow" on Slack's authorize page: the one-time code Slack puts into the redirect
        back to the app."""
        if team_id == self.home.team_id:  # the workspace the bot was in before OAuth
            self.installs.setdefault(team_id, self.home)
        if team_id not in self.installs:
            number = len(self.installs) + 2
            self.installs[team_id] = Workspace(
                team_id,
                name or f"Workspace {team_id}",
                bot_user_id=f"UBOT{number}",
                bot_id=f"BBOT{number}",
                token=f"xoxb-{team_id.lower()}-{secrets.token_hex(8)}",
                enterprise_id=enterprise_id,
            )
        workspace = self.installs[team_id]
        if not workspace.installed:  # installing again after an uninstall: a new token
            workspace.token = f"xoxb-{team_id.lower()}-{secrets.token_hex(8)}"
            workspace.installed = True
        code = secrets.token_hex(12)
        self._codes[code] = team_id
        return code

    def add_channel(self, channel: str, team_id: str) -> None:
        """``channel`` belongs to ``team_id``: only that workspace's token sees it."""
        self.channel_teams[channel] = team_id

    def uninstall(self, team_id: str) -> None:
        """An admin removes the app: its token stops working (Slack then sends the events)."""
        self.installs[team_id].installed = False

    def exchange_code(self, authorization: str, args: dict[str, Any]) -> dict[str, Any]:
        client_id, client_secret = _basic(authorization) or (
            str(args.get("client_id") or ""),
            str(args.get("client_secret") or ""),
        )
        if client_id != self.client_id:
            return self._error("invalid_client_id")
        if client_secret != self.client_secret:
            return self._error("bad_client_secret")
        team_id = self._codes.pop(str(args.get("code") or ""), None)
        if team_id is None:
            return self._error("invalid_code")
        workspace = self.installs[team_id]
        self.granted_codes += 1
        return {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": "U1"},
            "scope": ",".join(self.scopes),
            "token_type": "bot",
            "access_token": workspace.token,
            "bot_user_id": workspace.bot_user_id,
            "team": {"id": workspace.team_id, "name": workspace.name},
            "enterprise": (
                {"id": workspace.enterprise_id, "name": f"Org {workspace.enterprise_id}"}
                if workspace.enterprise_id
                else None
            ),
            "is_enterprise_install": False,
        }

    def uninstall_event(self, team_id: str) -> dict[str, Any]:
        """The ``app_uninstalled`` event Slack sends after :meth:`uninstall`."""
        with self.acting_in(team_id):
            return self.event_callback(  # type: ignore[attr-defined]
                {"type": "app_uninstalled", "event_ts": self.next_ts()}
            )

    def tokens_revoked_event(self, team_id: str) -> dict[str, Any]:
        with self.acting_in(team_id):
            bot = self.bot_user_id
            event = {"type": "tokens_revoked", "tokens": {"bot": [bot]}, "event_ts": self.next_ts()}
            return self.event_callback(  # type: ignore[attr-defined]
                event
            )


def _basic(authorization: str) -> tuple[str, str] | None:
    if not authorization.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret
