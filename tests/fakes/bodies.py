"""File bodies served the way a CDN serves them: in many small TCP writes.

A fake platform serves every downloaded file through :func:`serve_in_pieces`,
so a client that takes one ``read()`` for the whole body gets a piece of it.
``Serving`` also lets a test make ``Content-Length`` absent (chunked transfer
encoding) or larger than what is sent (the connection closes early).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

PIECE = 16 * 1024


@dataclass(frozen=True)
class Serving:
    content_length: int | Literal["true", "absent"] = "true"
    """``"true"``: the body's length; ``"absent"``: no header (chunked); a number: a lie
    larger than the body, after which the connection is closed."""
    piece: int = PIECE


async def serve_in_pieces(
    request: web.Request, body: bytes, content_type: str, serving: Serving = Serving()
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": content_type})
    if serving.content_length == "true":
        response.content_length = len(body)
    elif serving.content_length == "absent":
        response.enable_chunked_encoding()
    else:
        assert serving.content_length > len(body), "a shorter Content-Length would cut the body"
        response.content_length = serving.content_length
        response.force_close()
    await response.prepare(request)
    for start in range(0, len(body), serving.piece):
        await response.write(body[start : start + serving.piece])
        await asyncio.sleep(0)  # let the client read this piece before the next one is written
    if isinstance(serving.content_length, int):
        assert request.transport is not None
        request.transport.close()  # cut short: fewer bytes than the header promised
        return response
    await response.write_eof()
    return response


__all__ = ["PIECE", "Serving", "serve_in_pieces"]
