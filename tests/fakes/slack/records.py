"""What the fake Slack keeps: API calls, messages, files; and the shapes Slack gives them."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.bodies import Serving

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret-9f8e7d"
APP_ID = "AFAKE"
MANIFEST = Path(__file__).parents[3] / "docs" / "deploy" / "slack-manifest.json"


def manifest_scopes() -> list[str]:
    """The bot scopes of the app manifest admins install from: what the fake grants."""
    return list(json.loads(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])


UPDATE_MAX_CHARS = 4000
POST_MAX_CHARS = 40_000


@dataclass
class ApiCall:
    """One Web API request as the fake received and answered it."""

    method: str
    args: dict[str, Any]
    token: str
    status: int
    error: str = ""
    at: float = 0.0
    retry_after: float | None = None
    """The ``Retry-After`` the fake answered with (429s only)."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error


@dataclass
class FakeMessage:
    channel: str
    ts: str
    text: str
    user: str
    thread_ts: str | None = None
    blocks: list[Any] | None = None
    edits: int = 0
    deleted: bool = False
    streaming: bool = False
    below: list[Any] = field(default_factory=list)
    """Blocks a ``chat.stopStream`` put below a streamed text (buttons)."""
    reactions: dict[str, list[str]] = field(default_factory=dict)
    files: list[FakeFile] = field(default_factory=list)
    """Files shared in this message (an upload completed into the channel)."""

    @property
    def visible(self) -> str:
        """What a user reads: the section blocks if there are blocks, else the text."""
        if not self.blocks:
            return self.text
        return "".join(
            str(block.get("text", {}).get("text", ""))
            if block.get("type") == "section"
            else str(block.get("text", ""))
            for block in self.blocks
            if isinstance(block, dict) and block.get("type") in ("section", "markdown")
        )

    def buttons(self) -> list[dict[str, Any]]:
        """Buttons and feedback buttons under the message (``context_actions`` included)."""
        return [
            element
            for block in [*(self.blocks or []), *self.below]
            if isinstance(block, dict) and block.get("type") in ("actions", "context_actions")
            for element in block.get("elements", [])
        ]


@dataclass
class Workspace:
    """A workspace the app's bot is in: its bot user and the bot token it was given."""

    team_id: str
    name: str
    bot_user_id: str
    bot_id: str
    token: str
    installed: bool = True
    """False once uninstalled: its token is dead (``invalid_auth``)."""
    enterprise_id: str = ""
    """The Enterprise Grid organization the workspace belongs to ("" for none)."""


@dataclass
class FakeFile:
    id: str
    name: str
    mimetype: str
    content: bytes
    title: str = ""
    team_id: str = ""
    serving: Serving = field(default_factory=Serving)
    """How the download is served (always in small pieces)."""


@dataclass
class PendingUpload:
    """A file between ``files.getUploadURLExternal`` and ``files.completeUploadExternal``."""

    filename: str
    length: int
    content: bytes | None = None


@dataclass
class Fault:
    remaining: int
    status: int
    error: str
    retry_after: int


@dataclass
class Limit:
    calls: int
    window: float
    stamps: deque[float] = field(default_factory=deque)


def mimetype(filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower()
    return {"mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav"}.get(
        extension, "application/octet-stream"
    )


def parse_blocks(value: Any) -> list[Any] | None:
    if value is None:
        return None
    parsed = json.loads(value) if isinstance(value, str) else value
    return list(parsed) if isinstance(parsed, list) else None


def invalid_blocks(blocks: list[Any]) -> bool:
    """Block Kit limits Slack enforces (and answers ``invalid_blocks`` for)."""
    if len(blocks) > 50:
        return True
    for block in blocks:
        if block.get("type") == "section" and len(block["text"]["text"]) > 3000:
            return True
        if block.get("type") == "actions":
            elements = block.get("elements", [])
            ids = [e.get("action_id") for e in elements]
            if len(ids) != len(set(ids)) or len(elements) > 25:
                return True
            for element in elements:
                if len(element["text"]["text"]) > 75 or len(element.get("value", "")) > 2000:
                    return True
    return False


def message_view(message: FakeMessage) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "message",
        "user": message.user,
        "text": message.text,
        "ts": message.ts,
    }
    if message.thread_ts:
        view["thread_ts"] = message.thread_ts
    if message.blocks:
        view["blocks"] = message.blocks
    return view
