"""Files users share with the bot: what a message says about them, and their download.

A download needs the bot token (``url_private``), which only ever goes to
Slack's own hosts. A recorded audio clip is named and typed as audio even
when Slack types it as video.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from dify_bridge.core import Attachment

from ..common import download
from .client import SlackCallFailed
from .payload import MalformedPayload, text_field

__all__ = ["SlackFiles", "attachments"]

log = logging.getLogger(__name__)


class SlackFiles:
    """Fetches shared files; the token only ever goes to Slack's own hosts."""

    def __init__(self, token_of: Callable[[str], str], api_url: str) -> None:
        self._token_of = token_of
        self._api_host = urlparse(api_url).hostname or ""

    def fetchable(
        self, team_id: str, attachments: tuple[Attachment, ...]
    ) -> tuple[Attachment, ...]:
        """``attachments`` with a ``fetch`` that downloads each one with ``team_id``'s token."""
        return tuple(
            dataclasses.replace(a, fetch=functools.partial(self.download, team_id, a.url))
            if self._trusted(a.url)
            else a
            for a in attachments
        )

    async def download(self, team_id: str, url: str, max_bytes: int) -> bytes:
        """The whole file; :class:`~dify_bridge.core.FileTooLarge` past ``max_bytes``."""
        if not self._trusted(url):
            raise SlackCallFailed("file download", "not a Slack file URL")
        headers = {"Authorization": f"Bearer {self._token_of(team_id)}"}
        return await download(
            "Slack file download", url, max_bytes, headers=headers, refuse_html=True
        )

    def _trusted(self, url: str) -> bool:
        parsed = urlparse(url)
        host = parsed.hostname or ""
        if parsed.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
            return True
        return bool(host) and host == self._api_host


def attachments(files: Any) -> tuple[Attachment, ...]:
    """The files of a message event (``event.files``); deleted ones left out."""
    if files is None:
        return ()
    if not isinstance(files, list):
        raise MalformedPayload(f"event.files is a {type(files).__name__}, not a list")
    found = []
    for file in files:
        if not isinstance(file, Mapping):
            raise MalformedPayload(f"a file is a {type(file).__name__}, not an object")
        if file.get("mode") == "tombstone":
            continue
        name = text_field(file.get("name"), "file.name") or text_field(
            file.get("title"), "file.title"
        )
        mime_type = text_field(file.get("mimetype"), "file.mimetype")
        mime_type = mime_type or "application/octet-stream"
        if file.get("subtype") == "slack_audio":
            filetype = text_field(file.get("filetype"), "file.filetype")
            name, mime_type = _audio_clip(name or "file", mime_type, filetype)
        url = text_field(file.get("url_private_download"), "file.url_private_download")
        found.append(
            Attachment(
                name=name or "file",
                mime_type=mime_type,
                size=_size(file.get("size")),
                url=url or text_field(file.get("url_private"), "file.url_private"),
            )
        )
    return tuple(found)


def _size(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise MalformedPayload(f"file.size {repr(value)[:40]} is not a byte count")


def _audio_clip(name: str, mime_type: str, filetype: str) -> tuple[str, str]:
    """A recorded clip is speech even when Slack types it as video (``video/mp4``)."""
    if filetype and "." not in name:
        name = f"{name}.{filetype}"
    kind, _, rest = mime_type.partition("/")
    if kind != "audio":
        mime_type = f"audio/{rest or filetype or 'webm'}"
    return name, mime_type
