"""What the store remembers: a thread's conversation, and which answer a message shows."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FORM_CLOSED",
    "FORM_SUBMITTING",
    "FORM_WAITING",
    "FormRecord",
    "MessageRecord",
    "ThreadRecord",
]


@dataclass(frozen=True)
class ThreadRecord:
    """What the store remembers about one thread."""

    thread_key: str
    conversation_id: str
    dify_user: str
    app: str = "default"


@dataclass(frozen=True)
class MessageRecord:
    """Which Dify message a posted platform message belongs to."""

    message_key: str
    dify_message_id: str
    dify_user: str
    thread_key: str
    app: str = "default"


FORM_WAITING = "waiting"
FORM_SUBMITTING = "submitting"
"""Claimed by one click (on one replica); back to waiting if Dify refused the data."""
FORM_CLOSED = "closed"


@dataclass(frozen=True)
class FormRecord:
    """A Human Input form shown in a thread, everything needed to submit it after a restart."""

    form_key: str
    """Dify's ``form_id``."""
    thread_key: str
    form_token: str
    """"" for a form Dify delivered another way (e-mail): nothing to submit here."""
    workflow_run_id: str
    dify_user: str
    app: str
    message_key: str
    """The message the form is shown in ("" until it is posted)."""
    expires_at: float
    """Seconds since the epoch; 0: no expiry given."""
    body: str
    """JSON: title, content, fields, actions, defaults (see ``core.forms``)."""
    state: str = FORM_WAITING
