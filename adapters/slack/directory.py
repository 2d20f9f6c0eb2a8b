"""Display names of Slack users and channels, looked up once and remembered."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dify_bridge.core import BoundedDict

from .client import SlackCallFailed, call_slack
from .workspaces import SlackWorkspaces

__all__ = ["SlackDirectory"]

log = logging.getLogger(__name__)


class SlackDirectory:
    """``users.info`` / ``conversations.info`` with a cache; failures give ``""``.

    Each lookup asks with the token of the workspace it is for, and is remembered per
    workspace."""

    def __init__(self, workspaces: SlackWorkspaces) -> None:
        self._workspaces = workspaces
        self._users = BoundedDict[tuple[str, str], str]()
        self._bots = BoundedDict[tuple[str, str], bool]()
        self._channels = BoundedDict[tuple[str, str], str]()

    async def user_name(self, team_id: str, user_id: str) -> str:
        if (team_id, user_id) not in self._users:
            await self._look_up(team_id, user_id)
        return self._users.get((team_id, user_id)) or ""

    async def is_bot(self, team_id: str, user_id: str) -> bool:
        """True for another app's bot user (reaction events carry no ``bot_id``)."""
        if (team_id, user_id) not in self._bots:
            await self._look_up(team_id, user_id)
        return bool(self._bots.get((team_id, user_id)))

    async def _look_up(self, team_id: str, user_id: str) -> None:
        try:
            client = self._workspaces.client(team_id)
            data = await call_slack("users.info", client.users_info(user=user_id))
        except SlackCallFailed as exc:
            log.info("no details for user %s: %s", user_id, exc.error)
            return
        user = data.get("user") or {}
        self._users[(team_id, user_id)] = _user_name(user)
        self._bots[(team_id, user_id)] = bool(user.get("is_bot"))

    async def channel_name(self, team_id: str, channel: str) -> str:
        if (team_id, channel) in self._channels:
            return self._channels.get((team_id, channel)) or ""
        try:
            client = self._workspaces.client(team_id)
            data = await call_slack(
                "conversations.info", client.conversations_info(channel=channel)
            )
        except SlackCallFailed as exc:
            log.info("no name for channel %s: %s", channel, exc.error)
            return ""
        info = data.get("channel") or {}
        name = "" if info.get("is_im") else str(info.get("name") or "")
        self._channels[(team_id, channel)] = name
        return name


def _user_name(user: Mapping[str, Any]) -> str:
    profile = user.get("profile") or {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if name:
            return str(name)
    return ""
