"""Answer buttons as Block Kit, and what a click on one of them means.

With buttons, Slack shows a message's blocks instead of its ``text``, so the
text goes into ``section`` blocks (3,000 characters each, code fences closed
and reopened at a cut) followed by one ``actions`` block. Action ids are the
shared :class:`~dify_bridge.models.ActionKind` values, suffixed to stay
unique within the block: ``dify_feedback:like``, ``dify_suggested:0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_bridge.core.splitting import split_message
from dify_bridge.core.types import ActionKind, Controls, Rating

__all__ = ["ButtonClick", "answer_blocks", "parse_click"]

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


def answer_blocks(text: str, controls: Controls) -> list[dict[str, Any]]:
    """Blocks that show ``text`` (mrkdwn) with the buttons ``controls`` asks for."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": part}}
        for part in split_message(text, SECTION_MAX_CHARS)
    ]
    buttons: list[dict[str, Any]] = []
    if controls.stop:
        buttons.append(_button("⏹ Stop", f"{ActionKind.STOP.value}", "stop", style="danger"))
    if controls.feedback:
        buttons.append(_button("👍", f"{ActionKind.FEEDBACK.value}:like", "like"))
        buttons.append(_button("👎", f"{ActionKind.FEEDBACK.value}:dislike", "dislike"))
    for number, question in enumerate(controls.suggestions):
        label = _label(question)
        buttons.append(_button(label, f"{ActionKind.SUGGESTED.value}:{number}", question[:2000]))
    if buttons:
        blocks.append({"type": "actions", "block_id": "dify_controls", "elements": buttons})
    return blocks


def parse_click(body: Mapping[str, Any]) -> ButtonClick | None:
    """The answer button a ``block_actions`` payload reports, else None."""
    actions = body.get("actions") or []
    if not actions:
        return None
    action = actions[0]
    kind_id = str(action.get("action_id") or "").split(":", 1)[0]
    try:
        kind = ActionKind(kind_id)
    except ValueError:
        return None
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
    message_ts = str(message.get("ts") or container.get("message_ts") or "")
    user = body.get("user") or {}
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    if not channel or not message_ts or not user.get("id"):
        return None
    thread_ts = message.get("thread_ts") or container.get("thread_ts")
    return ButtonClick(
        kind=kind,
        team_id=team,
        channel=channel,
        user=str(user["id"]),
        message_ts=message_ts,
        thread_ts=str(thread_ts) if thread_ts and thread_ts != message_ts else None,
        value=str(action.get("value") or ""),
        action_ts=str(action.get("action_ts") or ""),
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
