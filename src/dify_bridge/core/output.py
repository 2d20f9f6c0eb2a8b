"""Showing a short line in a thread, where failing to show it must not end anything."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from dify_bridge.core.layout import notice_message
from dify_bridge.core.ports import ReplySink
from dify_bridge.errors import SinkError

__all__ = ["post_notice", "quietly"]

log = logging.getLogger(__name__)


async def post_notice(sink: ReplySink, text: str) -> None:
    """``text`` (Markdown) as a message of its own; a platform failure is logged."""
    try:
        await sink.post(notice_message(text, sink))
    except SinkError as exc:
        log.error("could not post a notice: %s", exc)


async def quietly(call: Callable[[], Awaitable[None]]) -> None:
    """A cosmetic call (a thinking indicator): a platform failure is only noted."""
    try:
        await call()
    except SinkError as exc:
        log.info("cosmetic platform call failed: %s", exc)
