"""Test doubles of a chat platform that record what a user would see."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from dify_bridge.config import Settings, parse_settings
from dify_bridge.core import Controls, EditBudget, Incoming, Message, SinkError, SinkLimits
from dify_bridge.ops.runtime import Runtime, open_runtime

_MESSAGE_IDS = itertools.count(1)  # message keys are unique across threads, as on a platform


@dataclass
class RecordingSink:
    """A platform thread in memory: messages with their current text, and every call."""

    max_len: int = 4000
    min_edit_interval: float = 0.0
    edit_budget: EditBudget | None = None
    messages: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    controls: dict[str, Controls | None] = field(default_factory=dict)
    """The buttons each message shows now."""
    thinking: bool = False
    fail_edits: int = 0

    @property
    def limits(self) -> SinkLimits:
        return SinkLimits(message_chars=self.max_len, edit_interval=self.min_edit_interval)

    def render(self, markdown: str) -> str:
        return markdown

    async def show_thinking(self) -> None:
        self.thinking = True

    async def clear_thinking(self) -> None:
        self.thinking = False

    async def post(self, message: Message) -> str:
        text, controls = message.text, message.controls
        assert len(text) <= self.max_len, f"posted {len(text)} characters > {self.max_len}"
        key = f"test:{next(_MESSAGE_IDS)}"
        self.messages[key] = text
        self.controls[key] = controls
        self.calls.append(("post", key, text))
        await asyncio.sleep(0)
        return key

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        text, controls = message.text, message.controls
        assert len(text) <= self.max_len, f"edited to {len(text)} characters > {self.max_len}"
        assert message_key in self.messages, f"edit of unknown message {message_key}"
        if self.fail_edits:
            self.fail_edits -= 1
            raise SinkError("test edit", "platform refused the edit")
        self.messages[message_key] = text
        self.controls[message_key] = controls
        self.calls.append(("edit", message_key, text))
        await asyncio.sleep(0)

    @property
    def texts(self) -> list[str]:
        return list(self.messages.values())

    @property
    def visible(self) -> str:
        """Everything shown in the thread, messages joined."""
        return "".join(self.messages.values())

    @property
    def edits(self) -> int:
        return sum(1 for kind, *_ in self.calls if kind == "edit")


def incoming(thread: str, text: str, *, event: str | None = None, **extra: object) -> Incoming:
    keys = (event,) if event else ()
    return Incoming(
        platform="test",
        thread_key=f"test:{thread}",
        text=text,
        user_id="U1",
        event_keys=keys,
        **extra,  # type: ignore[arg-type]
    )


def settings_for(dify_url: str, database: Path | str, **env: str) -> Settings:
    """``database``: an SQLite file, or a whole ``DATABASE_URL``."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    return parse_settings(
        {"DIFY_API_URL": dify_url, "DIFY_API_KEY": "app-test", "DATABASE_URL": url} | env
    )


@contextlib.asynccontextmanager
async def running_bridge(dify_url: str, database: Path | str, **env: str) -> AsyncIterator[Runtime]:
    """The real runtime (HTTP pool, store, bridge) wired as the CLI wires it.

    ``database``: an SQLite file, or a whole ``DATABASE_URL``."""
    async with open_runtime(settings_for(dify_url, database, **env)) as runtime:
        yield runtime
