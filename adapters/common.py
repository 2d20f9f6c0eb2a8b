"""What every platform adapter does the same way: downloads of users' files.

A download reads the whole body but never more than its cap
(:func:`dify_bridge.downloads.read_response`), and every way it can fail
leaves as :class:`~dify_bridge.core.SinkError` (or ``FileTooLarge``), the
one error contract the engine knows for platform trouble.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from dify_bridge.core import SinkError
from dify_bridge.downloads import read_response

__all__ = ["DOWNLOAD_TIMEOUT", "download"]

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=120)


async def download(
    what: str,
    url: str,
    max_bytes: int,
    *,
    headers: Mapping[str, str] | None = None,
    proxy: str | None = None,
    proxy_auth: aiohttp.BasicAuth | None = None,
    refuse_html: bool = False,
) -> bytes:
    """The whole body at ``url``; ``FileTooLarge`` past ``max_bytes``, else ``SinkError``.

    ``refuse_html``: a web page instead of the file (Slack's sign-in page when
    the token lacks ``files:read``) is a failure, not the file.
    """
    try:
        async with (
            aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT) as session,
            session.get(url, headers=headers, proxy=proxy, proxy_auth=proxy_auth) as response,
        ):
            if response.status != 200:
                raise SinkError(what, f"HTTP {response.status}")
            if refuse_html and response.content_type == "text/html":
                raise SinkError(what, "a sign-in page instead of the file")
            return await read_response(response, max_bytes)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SinkError(what, type(exc).__name__) from None
