"""Gateway connections (compressed the way the client asks) and resumable sessions."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.discord.records import Json


class GatewayConnection:
    """One websocket; serialises sends so compressed frames stay in order."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.lock = asyncio.Lock()
        self.closed_by_server = False
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd: Any = zstd_compressor() if compress == "zstd-stream" else None

    async def send(self, payload: Json) -> None:
        text = json.dumps(payload)
        async with self.lock:
            if self.ws.closed:
                return
            try:
                if self._zlib is not None:
                    data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                elif self._zstd is not None:
                    await self.ws.send_bytes(self._zstd(text.encode()))
                else:
                    await self.ws.send_str(text)
            except ConnectionError:
                pass  # the socket is going away; the session log keeps the event for RESUME


def zstd_compressor() -> Callable[[bytes], bytes]:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        from compression import zstd  # type: ignore[import-not-found]

        compressor = zstd.ZstdCompressor()
        return lambda data: compressor.compress(data, mode=zstd.ZstdCompressor.FLUSH_BLOCK)  # type: ignore[no-any-return]
    obj = zstandard.ZstdCompressor().compressobj()
    return lambda data: obj.compress(data) + obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)  # type: ignore[no-any-return]


@dataclass
class Session:
    id: str
    seq: int = 0
    log: list[tuple[int, Json]] = field(default_factory=list)
    conn: GatewayConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    replay_from: int | None = None
    shard: tuple[int, int] | None = None
    """``(shard_id, shard_count)`` from IDENTIFY; None: unsharded."""
