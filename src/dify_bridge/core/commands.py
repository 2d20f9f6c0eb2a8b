"""``new``, ``status`` and ``help``: what they do and say, for every platform.

An adapter parses its platform's command (Slack ``/dify new``, Discord
``/new``, the console's ``/new``) into a :class:`CommandRequest` and shows
the Markdown reply the way its platform shows a private answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_bridge.core import notices
from dify_bridge.core.types import Opening, ThreadRecord
from dify_bridge.dify.apps import DEFAULT_APP, AppDirectory, DifyApp
from dify_bridge.errors import DifyError
from dify_bridge.store import Store

__all__ = ["APP_NAME_TIMEOUT", "CommandRequest", "Commands", "opening_of"]

log = logging.getLogger(__name__)

APP_NAME_TIMEOUT = 2.0
"""Seconds ``status`` waits for the app's name: platforms want an answer within 3 s."""


@dataclass(frozen=True)
class CommandRequest:
    """One command, with the place it was typed in as far as the platform tells."""

    name: str
    """``new``, ``status``, ``help`` (anything else is answered with the help)."""
    spelling: str
    """How commands are typed on this platform, e.g. ``/dify `` or ``/``."""
    thread_key: str = ""
    """The conversation the command was typed in, when the platform says (DMs, threads)."""
    channel: str = ""
    """Else the channel (:attr:`ThreadKey.channel`): ``status`` speaks of its latest thread."""
    private: bool = False
    """A DM: ``new`` starts the DM's conversation afresh."""
    route_scopes: tuple[str, ...] = ()


class Commands:
    def __init__(self, store: Store, apps: AppDirectory) -> None:
        self._store = store
        self._apps = apps
        self._app_names: dict[str, str] = {}

    async def reply(self, request: CommandRequest) -> str:
        """The private reply to ``request`` (Markdown)."""
        word = request.name.strip().split(" ", 1)[0].lower()
        if word == "new":
            return await self._new(request)
        if word == "status":
            return await self._status(request)
        return notices.help_text(request.spelling)

    async def _new(self, request: CommandRequest) -> str:
        if not request.private or not request.thread_key:
            return notices.NEW_IN_CHANNEL
        await self._store.forget_thread(request.thread_key)
        log.info("conversation of %s forgotten on request", request.thread_key)
        return notices.NEW_IN_PRIVATE

    async def _status(self, request: CommandRequest) -> str:
        record: ThreadRecord | None = None
        if request.thread_key:
            record = await self._store.get_thread(request.thread_key)
        elif request.channel:
            record = await self._store.latest_thread(request.channel)
        app = self._apps.get(record.app) if record else self._apps.for_scopes(request.route_scopes)
        lines = [f"Assistant: **{await self._app_name(app)}**"]
        conversation = record.conversation_id if record else ""
        if request.thread_key:
            lines.append(
                f"Conversation: `{conversation}`"
                if conversation
                else "No conversation here yet: the next question starts one."
            )
        elif conversation:
            lines.append(f"Most recent thread in this channel: conversation `{conversation}`")
            lines.append("_Each thread is its own conversation; this is the latest one here._")
        else:
            lines.append("No conversation in this channel yet: mention me to start one.")
        return "\n".join(lines)

    async def _app_name(self, app: DifyApp) -> str:
        """The app's name from ``GET /info`` (asked once per app), else its route name."""
        name = self._app_names.get(app.name)
        if name is None:
            try:
                info = await asyncio.wait_for(app.client.info(), timeout=APP_NAME_TIMEOUT)
            except (DifyError, TimeoutError) as exc:
                log.info("no name for app %r: %s", app.name, exc)
                return app.name
            found = info.get("name")
            name = found.strip() if isinstance(found, str) and found.strip() else app.name
            self._app_names[app.name] = name
        return name if app.name == DEFAULT_APP else f"{name} (route {app.name})"


def opening_of(parameters: Mapping[str, Any]) -> Opening:
    """What an app says first (``GET /parameters``): its opening statement and questions."""
    statement = parameters.get("opening_statement")
    questions = parameters.get("suggested_questions")
    return Opening(
        statement.strip() if isinstance(statement, str) else "",
        tuple(q.strip() for q in questions if isinstance(q, str) and q.strip())
        if isinstance(questions, list)
        else (),
    )
