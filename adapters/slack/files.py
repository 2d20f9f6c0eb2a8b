"""Downloads of files users share with the bot (``url_private``, bot token required)."""

from __future__ import annotations

import dataclasses
import functools
import logging
from urllib.parse import urlparse

from dify_bridge.core.types import Attachment

from ..common import download
from .client import SlackCallFailed

__all__ = ["SlackFiles"]

log = logging.getLogger(__name__)


class SlackFiles:
    """Fetches shared files; the token only ever goes to Slack's own hosts."""

    def __init__(self, bot_token: str, api_url: str) -> None:
        self._token = bot_token
        self._api_host = urlparse(api_url).hostname or ""

    def fetchable(self, attachments: tuple[Attachment, ...]) -> tuple[Attachment, ...]:
        """``attachments`` with a ``fetch`` that downloads each one."""
        return tuple(
            dataclasses.replace(a, fetch=functools.partial(self.download, a.url))
            if self._trusted(a.url)
            else a
            for a in attachments
        )

    async def download(self, url: str, max_bytes: int) -> bytes:
        """The whole file; :class:`~dify_bridge.core.FileTooLarge` past ``max_bytes``."""
        if not self._trusted(url):
            raise SlackCallFailed("file download", "not a Slack file URL")
        headers = {"Authorization": f"Bearer {self._token}"}
        return await download(
            "Slack file download", url, max_bytes, headers=headers, refuse_html=True
        )

    def _trusted(self, url: str) -> bool:
        parsed = urlparse(url)
        host = parsed.hostname or ""
        if parsed.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com")):
            return True
        return bool(host) and host == self._api_host
