"""A chatflow's Human Input form in a Slack thread: its content, one button per action.

The form is a message of its own below the answer so far: the form's content
(mrkdwn), when it expires, and one button per action (``button_style``
primary / danger). A form with fields opens a modal (``views.open`` with the
click's ``trigger_id``) holding them; its ``view_submission`` answers the
form. Without fields the click answers it at once. Anyone the allow-lists
let talk to the bot in that channel may answer; the bridge submits a form
once (on any replica). Then the form's message shows who chose what, and its
buttons are gone; the workflow's answer streams into the same thread.

Action ids: ``dify_form:{n}`` (value ``{form_key}|{action_id}``); the modal's
``callback_id`` is ``dify_form``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck

from dify_bridge.core import Bridge, FormView, MessageKey, ThreadKey, notices

from .access import SlackAccess
from .budgets import WorkspaceBudgets
from .client import SlackCallFailed, call_slack
from .directory import SlackDirectory
from .events import BotIdentity
from .format import markdown_to_mrkdwn
from .sink import SlackSink
from .workspaces import SlackWorkspaces, team_of

__all__ = ["FORM_ACTION", "FORM_VIEW", "SlackForms"]

log = logging.getLogger(__name__)

FORM_ACTION = "dify_form"
FORM_VIEW = "dify_form"
_STYLES = {"primary": "primary", "danger": "danger"}


def form_blocks(form: FormView, outcome: str = "") -> list[dict[str, Any]]:
    """The form's message: content, expiry, and its buttons (or, once answered, ``outcome``)."""
    title = f"*{form.title}*\n" if form.title else ""
    content = markdown_to_mrkdwn(form.content.strip())[:2900] or " "
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"📝 {title}{content}"}}
    ]
    if outcome:
        text = markdown_to_mrkdwn(outcome)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
        return blocks
    if form.expiry_line():
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": form.expiry_line()}]}
        )
    buttons = []
    for n, action in enumerate(form.actions[:25]):
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"{FORM_ACTION}:{n}",
            "text": {"type": "plain_text", "text": action.title[:75] or action.id[:75]},
            "value": f"{form.form_key}|{action.id}"[:2000],
        }
        if action.style in _STYLES:
            button["style"] = _STYLES[action.style]
        buttons.append(button)
    blocks.append({"type": "actions", "block_id": FORM_ACTION, "elements": buttons})
    return blocks


def modal(form: FormView, action_id: str, metadata: dict[str, str]) -> dict[str, Any]:
    """The form's fields in a modal; submitting it answers the form with ``action_id``."""
    action = form.action(action_id)
    inputs: list[dict[str, Any]] = []
    for field in form.fields:
        element: dict[str, Any]
        if field.kind == "select" and field.options:
            options = [
                {"text": {"type": "plain_text", "text": o[:75]}, "value": o[:150]}
                for o in field.options[:100]
            ]
            element = {"type": "static_select", "action_id": "value", "options": options}
            if field.default in field.options:
                element["initial_option"] = options[field.options.index(field.default)]
        else:
            element = {"type": "plain_text_input", "action_id": "value", "multiline": True}
            if field.default:
                element["initial_value"] = field.default[:3000]
        inputs.append(
            {
                "type": "input",
                "block_id": field.name,
                "label": {"type": "plain_text", "text": field.label[:2000] or field.name},
                "element": element,
                "optional": field.kind == "paragraph",
            }
        )
    return {
        "type": "modal",
        "callback_id": FORM_VIEW,
        "title": {"type": "plain_text", "text": (form.title or "Form")[:24]},
        "submit": {"type": "plain_text", "text": (action.title if action else "Send")[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(metadata),
        "blocks": inputs,
    }


class SlackForms:
    """Shows forms in Slack threads (a :class:`~dify_bridge.core.FormBoard`) and takes the
    clicks and modal submissions that answer them."""

    def __init__(
        self,
        bridge: Bridge,
        workspaces: SlackWorkspaces,
        *,
        access: SlackAccess,
        directory: SlackDirectory,
        budgets: WorkspaceBudgets,
        identity: Callable[[str], Awaitable[BotIdentity]],
    ) -> None:
        self._bridge = bridge
        self._workspaces = workspaces
        self._access = access
        self._directory = directory
        self._budgets = budgets
        self._identity = identity
        bridge.show_forms_with("slack", self)

    async def show_form(self, form: FormView) -> str:
        team, channel, thread = ThreadKey.parse(form.thread_key).parts
        posted = await call_slack(
            "chat.postMessage",
            self._workspaces.client(team).chat_postMessage(
                channel=channel,
                thread_ts=None if thread == "dm" else thread,
                text=f"📝 {form.title or 'A form'}",
                blocks=form_blocks(form),
                unfurl_links=False,
                unfurl_media=False,
            ),
        )
        return str(MessageKey.slack(team, channel, str(posted.get("ts") or "")))

    async def close_form(self, message_key: str, form: FormView, outcome: str) -> None:
        team, channel, ts = message_key.split(":")[1:4]
        await call_slack(
            "chat.update",
            self._workspaces.client(team).chat_update(
                channel=channel,
                ts=ts,
                text=markdown_to_mrkdwn(outcome),
                blocks=form_blocks(form, outcome),
            ),
        )

    async def on_click(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """A button of a form: answer it, or open its fields in a modal."""
        await ack()
        try:
            (clicked,) = body["actions"]
            form_key, action_id = str(clicked["value"]).split("|", 1)
            user = str(body["user"]["id"])
            channel = str(body["container"]["channel_id"])
            message_ts = str(body["container"]["message_ts"])
            thread_ts = body["container"].get("thread_ts")
            team = team_of(body) or (await self._identity("")).team_id
        except (KeyError, TypeError, ValueError) as exc:
            log.info("form click ignored: malformed payload (%s)", exc)
            return
        if not self._access.allows(channel, user):
            return
        form = await self._bridge.form(form_key)
        if form is None:
            return
        place = {"team": team, "channel": channel, "ts": message_ts, "thread": thread_ts or ""}
        if form.fields:
            metadata = {"form": form_key, "action": action_id, **place}
            try:
                await call_slack(
                    "views.open",
                    self._workspaces.client(team).views_open(
                        trigger_id=str(body.get("trigger_id") or ""),
                        view=modal(form, action_id, metadata),
                    ),
                )
            except SlackCallFailed as exc:
                log.warning("form %s: modal not opened: %s", form_key, exc.error)
            return
        await self._answer(form_key, action_id, {}, user, place)

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """The modal of a form was submitted: its values answer the form."""
        await ack()
        try:
            view = body["view"]
            place = json.loads(view["private_metadata"])
            user = str(body["user"]["id"])
            values: dict[str, str] = {}
            for name, block in (view.get("state", {}).get("values") or {}).items():
                element = block.get("value") or {}
                chosen = element.get("selected_option") or {}
                value = element.get("value") if "value" in element else chosen.get("value")
                values[str(name)] = str(value or "")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.info("form submission ignored: malformed payload (%s)", exc)
            return
        if not self._access.allows(str(place.get("channel", "")), user):
            return
        await self._answer(str(place["form"]), str(place["action"]), values, user, place)

    async def _answer(
        self,
        form_key: str,
        action_id: str,
        values: dict[str, str],
        user: str,
        place: dict[str, str],
    ) -> None:
        name = await self._directory.user_name(place["team"], user)
        thread = place.get("thread") or None
        sink = SlackSink(
            self._workspaces.client(place["team"]),
            team_id=place["team"],
            channel=place["channel"],
            thread_ts=thread,
            reply_to_ts=place["ts"],
            edit_budget=self._budgets.for_team(place["team"]),
            post_budget=self._budgets.team(place["team"]).posts_in(place["channel"]),
        )
        said = await self._bridge.submit_form(form_key, action_id, values, name, sink)
        if said in (notices.FORM_TAKEN, notices.FORM_UNKNOWN):  # Dify's refusals are in the thread
            await self._tell(place, user, said)

    async def _tell(self, place: dict[str, str], user: str, text: str) -> None:
        try:
            await call_slack(
                "chat.postEphemeral",
                self._workspaces.client(place["team"]).chat_postEphemeral(
                    channel=place["channel"],
                    user=user,
                    text=markdown_to_mrkdwn(text),
                    thread_ts=place.get("thread") or None,
                ),
            )
        except SlackCallFailed as exc:
            log.info("form notice not shown to %s: %s", user, exc.error)
