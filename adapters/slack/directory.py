"""Display names of Slack users and channels, looked up once and remembered."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.core import BoundedDict

from .client import SlackCallFailed, call_slack

__all__ = ["SlackDirectory"]

log = logging.getLogger(__name__)


class SlackDirectory:
    """``users.info`` / ``conversations.info`` with a cache; failures give ``""``."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._users = BoundedDict[str, str]()
        self._bots = BoundedDict[str, bool]()
        self._channels = BoundedDict[str, str]()

    async def user_name(self, user_id: str) -> str:
        if user_id not in self._users:
            await self._look_up(user_id)
        return self._users.get(user_id) or ""

    async def is_bot(self, user_id: str) -> bool:
        """True for another app's bot user (reaction events carry no ``bot_id``)."""
        if user_id not in self._bots:
            await self._look_up(user_id)
        return bool(self._bots.get(user_id))

    async def _look_up(self, user_id: str) -> None:
        try:
            data = await call_slack("users.info", self._client.users_info(user=user_id))
        except SlackCallFailed as exc:
            log.info("no details for user %s: %s", user_id, exc.error)
            return
        user = data.get("user") or {}
        self._users[user_id] = _user_name(user)
        self._bots[user_id] = bool(user.get("is_bot"))

    async def channel_name(self, channel: str) -> str:
        if channel in self._channels:
            return self._channels.get(channel) or ""
        try:
            data = await call_slack(
                "conversations.info", self._client.conversations_info(channel=channel)
            )
        except SlackCallFailed as exc:
            log.info("no name for channel %s: %s", channel, exc.error)
            return ""
        info = data.get("channel") or {}
        name = "" if info.get("is_im") else str(info.get("name") or "")
        self._channels[channel] = name
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
