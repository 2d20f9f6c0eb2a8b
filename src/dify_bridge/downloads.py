"""Reading a network body whole, but never more than a cap.

A platform's declared file size is only a hint, and ``read(n)`` on a stream
returns whatever happens to be buffered, not ``n`` bytes. Every download goes
through :func:`read_capped`: it reads the body to its end, counting bytes as
they arrive, and stops with :class:`FileTooLarge` as soon as the next piece
would pass the cap, so no more than the cap is ever held.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping

import aiohttp

from dify_bridge.errors import FileTooLarge

MB = 1024 * 1024
MAX_DOWNLOAD_BYTES = 100 * MB
"""The cap above every other (``MAX_DOWNLOAD_MB``)."""

CHUNK_BYTES = 64 * 1024

__all__ = [
    "CHUNK_BYTES",
    "MAX_DOWNLOAD_BYTES",
    "FileTooLarge",
    "check_declared",
    "content_length",
    "read_capped",
    "read_response",
]


def check_declared(declared: int | None, max_bytes: int) -> None:
    """Refuse early when the size announced for a body is already over the cap."""
    if declared is not None and declared > max_bytes:
        raise FileTooLarge(max_bytes, declared)


async def read_capped(chunks: AsyncIterable[bytes], max_bytes: int) -> bytes:
    """All of ``chunks`` joined; :class:`FileTooLarge` once they would pass ``max_bytes``."""
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > max_bytes:
            raise FileTooLarge(max_bytes, len(body) + len(chunk))
        body += chunk
    return bytes(body)


async def read_response(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole body of an aiohttp response, at most ``max_bytes``.

    ``Content-Length`` (when sent) refuses an oversized body before reading it;
    a body that ends before its ``Content-Length`` raises
    :class:`aiohttp.ClientPayloadError` instead of coming back short.
    """
    check_declared(content_length(response.headers), max_bytes)
    return await read_capped(response.content.iter_chunked(CHUNK_BYTES), max_bytes)


def content_length(headers: Mapping[str, str]) -> int | None:
    """The ``Content-Length`` of a response (case-insensitive headers), None if absent."""
    value = headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None
