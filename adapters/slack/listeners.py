"""Which bolt listener handles which Slack event, click and command.

- ``app_mention`` / ``message``: :mod:`.messages` (answers in threads);
- ``reaction_added`` / ``reaction_removed`` and the answer buttons
  (``dify_…`` action ids): :mod:`.interactions` (ratings, stop, suggestions);
- ``assistant_thread_started`` / ``assistant_thread_context_changed``:
  :mod:`.assistant` (greeting, suggested prompts, routing by context);
- ``/dify``: :mod:`.commands` (answered ephemerally in the ack);
- a workflow's form (``dify_form:…`` buttons, the ``dify_form`` modal): :mod:`.forms`.

``SLACK_ALLOWED_CHANNELS`` / ``SLACK_ALLOWED_USERS`` (:mod:`.access`) are
checked before anything reaches the bridge. Every listener runs after bolt has
acknowledged the request, so Slack gets its 200 before the answer streams; a
listener's failure goes to bolt's error handler (:mod:`.boundary`). A payload
with fields of impossible types is logged in one line and ignored. Event types
nobody listens to are acked by catch-alls, or bolt would answer 404 and Slack
would retry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncAck, AsyncApp

from dify_bridge.config import SlackSettings
from dify_bridge.core import Bridge

from .access import SlackAccess
from .assistant import SlackAssistant
from .budgets import WorkspaceBudgets
from .commands import COMMAND, SlackCommands
from .directory import SlackDirectory
from .files import SlackFiles
from .forms import FORM_ACTION, FORM_VIEW, SlackForms
from .interactions import SlackInteractions
from .messages import SlackMessages
from .workspaces import SlackWorkspaces

__all__ = ["SlackListeners"]

log = logging.getLogger(__name__)


class SlackListeners:
    """Turns bolt's events, actions and commands into bridge calls."""

    def __init__(
        self,
        settings: SlackSettings,
        bridge: Bridge,
        workspaces: SlackWorkspaces,
        budgets: WorkspaceBudgets,
    ) -> None:
        access = SlackAccess(settings)
        identity = workspaces.identity
        self.assistant = SlackAssistant(bridge, workspaces)
        directory = SlackDirectory(workspaces)
        self.messages = SlackMessages(
            bridge,
            workspaces,
            access=access,
            budgets=budgets,
            directory=directory,
            files=SlackFiles(workspaces.token, settings.api_url),
            identity=identity,
            streaming=settings.streaming == "auto",
            thread_context=settings.thread_context,
            assistant=self.assistant,
        )
        self.interactions = SlackInteractions(
            bridge,
            workspaces,
            access=access,
            directory=directory,
            messages=self.messages,
            identity=identity,
        )
        self.commands = SlackCommands(bridge, access=access, identity=identity)
        self.forms = SlackForms(
            bridge,
            workspaces,
            access=access,
            directory=directory,
            budgets=budgets,
            identity=identity,
        )

    def register(self, app: AsyncApp) -> None:
        app.event("assistant_thread_started")(self.assistant.on_started)
        app.event("assistant_thread_context_changed")(self.assistant.on_context_changed)
        app.event("app_mention")(self.messages.on_mention)
        app.event("message")(self.messages.on_message)
        app.event("reaction_added")(self.interactions.on_reaction)
        app.event("reaction_removed")(self.interactions.on_reaction)
        app.action(re.compile(rf"^{FORM_ACTION}:"))(self.forms.on_click)
        app.view(FORM_VIEW)(self.forms.on_submit)
        app.action(re.compile(r"^dify_"))(self.interactions.on_button)
        app.command(COMMAND)(self.commands.on_command)
        everything = re.compile(".*")
        app.event(everything)(_ignore)
        app.command(everything)(_ack_only)
        app.action(everything)(_ack_only)
        app.shortcut(everything)(_ack_only)
        app.view(everything)(_ack_only)
        app.options(everything)(_ack_only)
        app.middleware(_answer_rate_limit_notice)


async def _answer_rate_limit_notice(
    body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
) -> BoltResponse:
    """``app_rate_limited`` is no event, so no listener matches it: bolt would answer
    404 exactly when the workspace is busiest. It gets its 200 (and a log line)."""
    if isinstance(body, dict) and body.get("type") == "app_rate_limited":
        log.warning(
            "Slack is holding back events of team %s (app_rate_limited)", body.get("team_id")
        )
        return BoltResponse(status=200, body="")
    return await next()


async def _ignore() -> None:
    return None


async def _ack_only(ack: AsyncAck) -> None:
    await ack()
