"""What the store remembers: a thread's conversation, and which answer a message shows."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MessageRecord", "ThreadRecord"]


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
