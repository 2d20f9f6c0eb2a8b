"""Socket Mode that survives broken envelopes.

slack-sdk's aiohttp ``SocketModeClient`` reads every websocket text frame
with ``json.loads`` (a frame that is not JSON is logged with a traceback),
turns it into a ``SocketModeRequest`` only when ``type``, ``envelope_id``
and ``payload`` are all there (otherwise it is silently never acked, so
Slack sends it again), and raises ``ValueError`` for a payload that is not
an object or a string. slack-bolt's handler acks only when bolt answers 200,
and a payload bolt cannot build a request from raises out of the handler.

Here every frame is read first: one that is not a JSON object, or an
envelope whose type or payload is not what Slack sends, is dropped with one
log line, and acked if it has an envelope id. Whatever bolt does with the
rest, the envelope is acked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from .boundary import UnreadableRequest, dispatch
from .http import brief_error

__all__ = ["ENVELOPE_TYPES", "Screened", "ScreeningSocketModeHandler", "screen_frame"]

log = logging.getLogger(__name__)

ENVELOPE_TYPES = frozenset({"events_api", "interactive", "slash_commands"})
"""Envelopes that carry a payload for bolt."""
CONTROL_TYPES = frozenset({"hello", "disconnect"})
"""Messages from Slack that carry no envelope id and need no ack."""


@dataclass(frozen=True)
class Screened:
    """A frame after reading: a message to pass on, or a problem (and an id to ack)."""

    message: dict[str, Any] | None
    ack_id: str | None = None
    problem: str = ""


def _short(value: object) -> str:
    return repr(value)[:60]


def screen_frame(raw: str | bytes) -> Screened:
    """Whether a websocket text frame goes on to slack-sdk's listeners."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return Screened(None, problem="the frame is not JSON")
    if not isinstance(message, dict):
        return Screened(None, problem=f"the frame is JSON {type(message).__name__}, not an object")
    envelope_id, kind = message.get("envelope_id"), message.get("type")
    if envelope_id is None:
        if isinstance(kind, str) and kind in CONTROL_TYPES:
            return Screened(message)
        return Screened(None, problem=f"a message of type {_short(kind)} without an envelope id")
    if not isinstance(envelope_id, str) or not envelope_id:
        return Screened(None, problem=f"the envelope id {_short(envelope_id)} is not a string")
    if not isinstance(kind, str) or kind not in ENVELOPE_TYPES:
        return Screened(None, envelope_id, f"envelope {envelope_id} has type {_short(kind)}")
    payload = message.get("payload")
    if not isinstance(payload, dict):
        what = "no payload" if payload is None else f"a {type(payload).__name__} payload"
        return Screened(None, envelope_id, f"{kind} envelope {envelope_id} has {what}")
    return Screened(message)


class _ScreeningClient(SocketModeClient):
    """slack-sdk's aiohttp client, reading each frame through :func:`screen_frame`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tasks: set[asyncio.Future[None]] = set()

    async def process_message(self) -> None:
        raw = await self.message_queue.get()
        if raw is None:
            return
        screened = screen_frame(raw)
        if screened.message is not None:
            task = asyncio.ensure_future(self.run_message_listeners(screened.message, raw))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        acked = " (acknowledged)" if screened.ack_id else ""
        log.warning("Socket Mode message dropped: %s%s", screened.problem, acked)
        if screened.ack_id is not None:
            await _ack(self, screened.ack_id)


async def _ack(client: SocketModeClient, envelope_id: str) -> None:
    if client.current_session is None:
        log.info("could not acknowledge envelope %s: not connected", envelope_id)
        return
    try:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))
    except (ConnectionError, aiohttp.ClientError) as exc:  # gone; Slack redelivers
        log.info("could not acknowledge envelope %s: %s", envelope_id, brief_error(exc))


class ScreeningSocketModeHandler(AsyncSocketModeHandler):
    """bolt's Socket Mode handler that acks every envelope, whatever bolt makes of it."""

    def __init__(self, app: AsyncApp, app_token: str, web_client: AsyncWebClient) -> None:
        # not super().__init__(): it would open a second client (a session and a task)
        self.app = app
        self.app_token = app_token
        self.client = _ScreeningClient(
            app_token=app_token, logger=app.logger, web_client=web_client, ping_interval=10
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        start = time.time()
        try:
            response = await dispatch(self.app, req.payload, build_headers(req), mode="socket_mode")
        except UnreadableRequest as exc:
            log.warning(
                "Socket Mode %s envelope %s could not be read (%s); acknowledged and dropped",
                req.type,
                req.envelope_id,
                exc,
            )
            await _ack(client, req.envelope_id)
            return
        if response.status != 200:
            log.info(
                "Socket Mode %s envelope %s answered %s; acknowledged",
                req.type,
                req.envelope_id,
                response.status,
            )
            await _ack(client, req.envelope_id)
            return
        await send_async_response(client, req, response, start)
