"""Socket Mode: the websocket ``apps.connections.open`` points at; envelopes and acks."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.slack.state import SlackState


class SocketMode(SlackState):
    """Greets with ``hello``, sends envelopes, waits for the client's acks."""

    async def push_event(
        self,
        body: dict[str, Any],
        *,
        retry_attempt: int = 0,
        envelope_type: str = "events_api",
        within: float = 5.0,
    ) -> dict[str, Any]:
        """Send an envelope (``events_api``, ``interactive``) over Socket Mode; return the ack."""
        await asyncio.wait_for(self.socket_connected.wait(), within)
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": body,
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        ack: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = ack
        await self._sockets[-1].send_str(json.dumps(envelope))
        return await asyncio.wait_for(ack, within)

    async def push_raw(
        self, text: str, *, envelope_id: str | None = None, within: float = 5.0
    ) -> dict[str, Any] | None:
        """Send ``text`` as one websocket frame, exactly as given (a broken envelope).

        With ``envelope_id`` wait for the client's ack of that id and return it;
        without, return None as soon as the frame is sent.
        """
        await asyncio.wait_for(self.socket_connected.wait(), within)
        ack: asyncio.Future[dict[str, Any]] | None = None
        if envelope_id is not None:
            ack = asyncio.get_running_loop().create_future()
            self._acks[envelope_id] = ack
        await self._sockets[-1].send_str(text)
        return None if ack is None else await asyncio.wait_for(ack, within)

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connections += 1
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": "AFAKE"},
                }
            )
        )
        self.socket_connected.set()
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                future = self._acks.pop(str(data.get("envelope_id", "")), None)
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self.socket_connected.clear()
        return ws
