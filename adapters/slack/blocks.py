"""Answer buttons as Block Kit, and what a click on one of them means.

With buttons, Slack shows a message's blocks instead of its ``text``, so the
text goes into ``section`` blocks (the writer cuts a message into pieces of at
most :data:`SECTION_MAX_CHARS`, the limit the sink declares) followed by one
``actions`` block (Stop, suggested questions) and, for feedback, Slack's own
``feedback_buttons`` in a ``context_actions`` block (a click reports
``type: feedback_buttons`` with the clicked button's value, like/dislike).
Streaming messages carry Markdown instead: one ``markdown`` block. Action ids are the
shared :class:`~dify_bridge.core.ActionKind` values, suffixed to stay
unique within the block: ``dify_feedback:like``, ``dify_suggested:0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_bridge.core import ActionKind, Controls, Message, Rating

from .payload import MalformedPayload, obj, text_field

__all__ = ["ButtonClick", "answer_blocks", "control_blocks", "markdown_blocks", "parse_click"]

SECTION_MAX_CHARS = 3000
BUTTON_LABEL_MAX_CHARS = 75


@dataclass(frozen=True)
class ButtonClick:
    """A click on one of the answer buttons."""

    kind: ActionKind
    team_id: str
    channel: str
    user: str
    message_ts: str
    thread_ts: str | None
    value: str
    action_ts: str

    @property
    def rating(self) -> Rating | None:
        return Rating(self.value) if self.value in ("like", "dislike") else None


def answer_blocks(message: Message) -> list[dict[str, Any]]:
    """Blocks that show ``message`` (mrkdwn, already cut into sections by the writer)
    with the buttons its controls ask for."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in message.blocks
    ]
    return blocks + control_blocks(message.controls)


def markdown_blocks(message: Message) -> list[dict[str, Any]]:
    """Blocks that show ``message`` as Markdown (the text of a streaming answer)."""
    return [{"type": "markdown", "text": message.text}, *control_blocks(message.controls)]


def control_blocks(controls: Controls | None) -> list[dict[str, Any]]:
    """The buttons under an answer: Stop and suggestions, then native feedback."""
    controls = controls or Controls()
    buttons: list[dict[str, Any]] = []
    if controls.stop:
        buttons.append(_button("⏹ Stop", f"{ActionKind.STOP.value}", "stop", style="danger"))
    for number, question in enumerate(controls.suggestions):
        label = _label(question)
        buttons.append(_button(label, f"{ActionKind.SUGGESTED.value}:{number}", question[:2000]))
    blocks: list[dict[str, Any]] = []
    if buttons:
        blocks.append({"type": "actions", "block_id": "dify_controls", "elements": buttons})
    if controls.feedback:
        blocks.append({"type": "context_actions", "elements": [_feedback_buttons()]})
    return blocks


def _feedback_buttons() -> dict[str, Any]:
    return {
        "type": "feedback_buttons",
        "action_id": ActionKind.FEEDBACK.value,
        "positive_button": {
            "text": {"type": "plain_text", "text": "Good answer"},
            "accessibility_label": "Mark this answer as good",
            "value": "like",
        },
        "negative_button": {
            "text": {"type": "plain_text", "text": "Bad answer"},
            "accessibility_label": "Mark this answer as bad",
            "value": "dislike",
        },
    }


def parse_click(body: Mapping[str, Any]) -> ButtonClick | None:
    """The answer button a ``block_actions`` payload reports, else None.

    Raises :class:`~dify_bridge.adapters.slack.payload.MalformedPayload` for
    fields of impossible types, and for a click on one of the bridge's
    buttons whose value the bridge never gave it (a feedback value other
    than like/dislike, an empty suggested question).
    """
    actions = body.get("actions")
    if not actions:
        return None
    if not isinstance(actions, list):
        raise MalformedPayload(f"actions is a {type(actions).__name__}, not a list")
    action = obj(actions[0], "actions[0]")
    kind_id = text_field(action.get("action_id"), "action_id").split(":", 1)[0]
    try:
        kind = ActionKind(kind_id)
    except ValueError:
        return None
    value = text_field(action.get("value"), "action value")
    if kind is ActionKind.FEEDBACK and value not in ("like", "dislike"):
        raise MalformedPayload(f"feedback button with value {value[:40]!r}")
    if kind is ActionKind.SUGGESTED and not value.strip():
        raise MalformedPayload("suggested-question button without a question")
    container = obj(body.get("container"), "container")
    message = obj(body.get("message"), "message")
    user = obj(body.get("user"), "user")
    channel = text_field(obj(body.get("channel"), "channel").get("id"), "channel.id")
    channel = channel or text_field(container.get("channel_id"), "container.channel_id")
    message_ts = text_field(message.get("ts"), "message.ts")
    message_ts = message_ts or text_field(container.get("message_ts"), "container.message_ts")
    team = text_field(obj(body.get("team"), "team").get("id"), "team.id")
    team = team or text_field(user.get("team_id"), "user.team_id")
    user_id = text_field(user.get("id"), "user.id")
    if not channel or not message_ts or not user_id:
        return None
    thread_ts = text_field(message.get("thread_ts"), "message.thread_ts")
    thread_ts = thread_ts or text_field(container.get("thread_ts"), "container.thread_ts")
    return ButtonClick(
        kind=kind,
        team_id=team,
        channel=channel,
        user=user_id,
        message_ts=message_ts,
        thread_ts=thread_ts if thread_ts and thread_ts != message_ts else None,
        value=value,
        action_ts=text_field(action.get("action_ts"), "action_ts"),
    )


def _button(text: str, action_id: str, value: str, *, style: str = "") -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _label(question: str) -> str:
    label = " ".join(question.split())
    if len(label) > BUTTON_LABEL_MAX_CHARS:
        label = label[: BUTTON_LABEL_MAX_CHARS - 1].rstrip() + "…"
    return label
