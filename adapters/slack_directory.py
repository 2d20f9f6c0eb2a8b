"""Display names of Slack users and channels, looked up once and remembered."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from .slack_client import SlackCallFailed, call_slack

__all__ = ["SlackDirectory"]

log = logging.getLogger(__name__)

MAX_ENTRIES = 10_000


class SlackDirectory:
    """``users.info`` / ``conversations.info`` with a cache; failures give ``""``."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._users: dict[str, str] = {}
        self._channels: dict[str, str] = {}

    async def user_name(self, user_id: str) -> str:
        if user_id in self._users:
            return self._users[user_id]
        try:
            data = await call_slack("users.info", self._client.users_info(user=user_id))
        except SlackCallFailed as exc:
            log.info("no name for user %s: %s", user_id, exc.error)
            return ""
        name = _user_name(data.get("user") or {})
        _remember(self._users, user_id, name)
        return name

    async def channel_name(self, channel: str) -> str:
        if channel in self._channels:
            return self._channels[channel]
        try:
            data = await call_slack(
                "conversations.info", self._client.conversations_info(channel=channel)
            )
        except SlackCallFailed as exc:
            log.info("no name for channel %s: %s", channel, exc.error)
            return ""
        info = data.get("channel") or {}
        name = "" if info.get("is_im") else str(info.get("name") or "")
        _remember(self._channels, channel, name)
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


def _remember(cache: dict[str, str], key: str, value: str) -> None:
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    cache[key] = value
