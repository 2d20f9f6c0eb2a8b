"""A chatflow's Human Input form as every platform shows it, and where it is shown.

Dify sends the form with ``human_input_required``; :class:`FormView` is what a
platform needs to show it (content, fields, one button per action, expiry)
and what the store keeps of it (:func:`form_body`), so a click after a
restart, or on another replica, still finds it. A platform that shows forms
its own way (buttons, a modal) registers a :class:`FormBoard` with the
bridge; elsewhere the form is a plain message listing its actions.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from dify_bridge.core import notices
from dify_bridge.dify.events import HumanInputRequired
from dify_bridge.store.records import FormRecord

__all__ = [
    "FILE_KINDS",
    "FormAction",
    "FormBoard",
    "FormField",
    "FormView",
    "expiry_of",
    "form_body",
    "form_text",
    "message_of",
    "view_of",
    "view_of_record",
]

FILE_KINDS = frozenset({"file", "file-list"})
"""Field types a chat platform cannot hold (an upload inside a form)."""


@dataclass(frozen=True)
class FormField:
    name: str
    """Dify's ``output_variable_name``: the key of ``inputs`` on submit."""
    kind: str
    """``paragraph``, ``select``, ``file`` or ``file-list``."""
    label: str
    options: tuple[str, ...] = ()
    default: str = ""


@dataclass(frozen=True)
class FormAction:
    id: str
    title: str
    style: str = "default"
    """Dify's ``button_style``: ``primary``, ``danger`` or ``default``."""


@dataclass(frozen=True)
class FormView:
    form_key: str
    thread_key: str
    title: str
    content: str
    """Markdown shown above the fields and buttons."""
    fields: tuple[FormField, ...] = ()
    actions: tuple[FormAction, ...] = ()
    expires_at: float = 0.0
    """Seconds since the epoch; 0: none given."""
    by_email: bool = False
    """Delivered another way (no form token): it cannot be answered here."""

    @property
    def answerable_here(self) -> bool:
        return not self.by_email and not any(f.kind in FILE_KINDS for f in self.fields)

    def action(self, action_id: str) -> FormAction | None:
        return next((a for a in self.actions if a.id == action_id), None)

    def expiry_line(self) -> str:
        if not self.expires_at:
            return ""
        when = datetime.fromtimestamp(self.expires_at).astimezone()
        return f"Answer by {when:%Y-%m-%d %H:%M %Z}."

    def expired(self, now: float | None = None) -> bool:
        return bool(self.expires_at) and (now or time.time()) >= self.expires_at


class FormBoard(Protocol):
    """How one platform shows a form in a thread and closes it once answered."""

    async def show_form(self, form: FormView) -> str:
        """Post the form in ``form.thread_key``; return the message key it is shown in.
        Raises :class:`~dify_bridge.errors.SinkError`."""
        ...

    async def close_form(self, message_key: str, form: FormView, outcome: str) -> None:
        """The form's message shows ``outcome`` (Markdown: who chose what) and no buttons."""
        ...


def expiry_of(value: int | float | str | None) -> float:
    """Dify's ``expiration_time`` (Unix seconds or milliseconds, or ISO) as epoch seconds."""
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 10**11 else float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def _options(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    found = []
    for item in raw:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            value = item.get("value") or item.get("label")
            if isinstance(value, str):
                found.append(value)
    return tuple(found)


def _field(raw: dict[str, Any], defaults: dict[str, Any]) -> FormField | None:
    name = raw.get("output_variable_name") or raw.get("variable")
    if not isinstance(name, str) or not name:
        return None
    kind = str(raw.get("type") or "paragraph")
    label = raw.get("label") or raw.get("placeholder") or name
    default = defaults.get(name, raw.get("default", ""))
    return FormField(
        name=name,
        kind=kind,
        label=str(label)[:200],
        options=_options(raw.get("options")),
        default=default if isinstance(default, str) else "",
    )


def view_of(event: HumanInputRequired, thread_key: str) -> FormView:
    defaults = dict(event.resolved_default_values)
    fields = tuple(f for f in (_field(raw, defaults) for raw in event.inputs) if f is not None)
    actions = tuple(
        FormAction(str(a["id"]), str(a.get("title") or a["id"]), str(a.get("button_style") or ""))
        for a in event.actions
        if isinstance(a.get("id"), str) and a["id"]
    )
    return FormView(
        form_key=event.form_id,
        thread_key=thread_key,
        title=event.node_title,
        content=event.form_content,
        fields=fields,
        actions=actions,
        expires_at=expiry_of(event.expiration_time),
        by_email=not event.form_token,
    )


def form_body(view: FormView, *, message_id: str = "") -> str:
    """What the store keeps of a form to show it again, and the Dify message it pauses (JSON)."""
    return json.dumps(
        {
            "message_id": message_id,
            "title": view.title,
            "content": view.content,
            "fields": [
                {"name": f.name, "kind": f.kind, "label": f.label, "options": list(f.options)}
                | {"default": f.default}
                for f in view.fields
            ],
            "actions": [{"id": a.id, "title": a.title, "style": a.style} for a in view.actions],
        }
    )


def _body(record: FormRecord) -> dict[str, Any]:
    try:
        body = json.loads(record.body)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def message_of(record: FormRecord) -> str:
    """The Dify message the form's workflow answers (its answer goes on after the form)."""
    return str(_body(record).get("message_id") or "")


def view_of_record(record: FormRecord) -> FormView:
    body = _body(record)
    fields = tuple(
        FormField(
            str(f.get("name", "")),
            str(f.get("kind", "paragraph")),
            str(f.get("label", "")),
            tuple(str(o) for o in f.get("options") or ()),
            str(f.get("default", "")),
        )
        for f in body.get("fields") or ()
        if isinstance(f, dict)
    )
    actions = tuple(
        FormAction(str(a.get("id", "")), str(a.get("title", "")), str(a.get("style", "")))
        for a in body.get("actions") or ()
        if isinstance(a, dict)
    )
    return FormView(
        form_key=record.form_key,
        thread_key=record.thread_key,
        title=str(body.get("title", "")),
        content=str(body.get("content", "")),
        fields=fields,
        actions=actions,
        expires_at=record.expires_at,
        by_email=not record.form_token,
    )


def form_text(view: FormView, *, choose: str = "") -> str:
    """The form as one Markdown message (platforms without buttons; ``choose``: how
    to pick an action there, e.g. ``/choose``)."""
    lines = [f"📝 **{view.title}**" if view.title else "📝 **A form**"]
    if view.content.strip():
        lines.append(view.content.strip())
    if view.by_email:
        lines.append(notices.FORM_BY_EMAIL)
        return "\n\n".join(lines)
    for field in view.fields:
        options = f" (one of: {', '.join(field.options)})" if field.options else ""
        lines.append(f"• _{field.label}_{options}")
    if view.actions:
        lines.append("\n".join(f"{n}. **{a.title}**" for n, a in enumerate(view.actions, start=1)))
        if choose:
            lines.append(f"Answer with `{choose} N`.")
    if view.expiry_line():
        lines.append(f"_{view.expiry_line()}_")
    return "\n\n".join(lines)
