"""The slash commands ``/new`` and ``/status``: what is registered and what they answer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dify_bridge.core.types import ThreadRecord
from dify_bridge.dify.apps import DEFAULT_APP, DifyApp
from dify_bridge.errors import DifyError

log = logging.getLogger(__name__)

_IN_GUILDS_AND_DMS = {"contexts": [0, 1], "integration_types": [0]}
"""Usable in servers and in the bot's DMs (guild install)."""

COMMANDS: tuple[dict[str, Any], ...] = (
    {
        "name": "new",
        "type": 1,
        "description": "Start a fresh conversation with the assistant",
        **_IN_GUILDS_AND_DMS,
    },
    {
        "name": "status",
        "type": 1,
        "description": "Show which assistant and conversation this place uses",
        **_IN_GUILDS_AND_DMS,
    },
)
"""Registered with one bulk overwrite of the global commands at start."""

NEW_IN_DM = "Starting fresh: your next message here begins a new conversation."
NEW_IN_GUILD = (
    "Each thread is its own conversation: mention me in a channel to start a new one "
    "in a new thread."
)
APP_NAME_TIMEOUT = 2.0
"""Seconds /status waits for the app's name (the interaction must be answered within 3 s)."""


def new_reply(*, in_dm: bool) -> str:
    return NEW_IN_DM if in_dm else NEW_IN_GUILD


async def status_reply(record: ThreadRecord | None, app: DifyApp) -> str:
    """The app's name and the conversation id this place is mapped to (if any)."""
    name = await _app_name(app)
    if app.name != DEFAULT_APP:
        name += f" (route {app.name})"
    if record is None or not record.conversation_id:
        return f"Assistant: **{name}**\nNo conversation here yet: the next question starts one."
    return f"Assistant: **{name}**\nConversation: `{record.conversation_id}`"


async def _app_name(app: DifyApp) -> str:
    try:
        info = await asyncio.wait_for(app.client.info(), timeout=APP_NAME_TIMEOUT)
    except (DifyError, TimeoutError) as exc:
        log.info("no name for app %r: %s", app.name, exc)
        return app.name
    name = info.get("name")
    return name if isinstance(name, str) and name.strip() else app.name


__all__ = ["COMMANDS", "new_reply", "status_reply"]
