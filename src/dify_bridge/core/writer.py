"""Shows one growing answer in a thread: first text at once, paced edits, exact end.

The writer owns the messages of one answer. It lays the Markdown out over
the sink's limits (:mod:`dify_bridge.core.layout`) and posts or edits only
the messages that changed. Intermediate edits are coalesced: whatever text
is newest when an edit is allowed is what gets sent, so a slow platform sees
fewer edits, never stale ones. The final text is always written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from dify_bridge.core.layout import MAX_PARTS, lay_out
from dify_bridge.core.ports import Message, ReplySink
from dify_bridge.core.types import Controls
from dify_bridge.errors import SinkError

__all__ = ["ReplyWriter"]

log = logging.getLogger(__name__)

FINAL_TRIES = 3
BLANK = "…"
"""What a message left over after the answer shrank (moderation) is edited to."""


class ReplyWriter:
    def __init__(self, sink: ReplySink, *, max_parts: int = MAX_PARTS) -> None:
        self._sink = sink
        self._max_parts = max_parts
        self._markdown = ""
        self._status = ""
        self._controls: Controls | None = None
        self._keys: list[str] = []
        self._shown: list[Message] = []
        self._last_edit = 0.0
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._in_call = False
        self._flusher: asyncio.Task[None] | None = None
        self.edits = 0

    @property
    def message_keys(self) -> list[str]:
        """Keys of the messages posted so far, in order."""
        return list(self._keys)

    def update(self, markdown: str, *, status: str = "", controls: Controls | None = None) -> None:
        """The answer so far (a transient status line, buttons); shown as soon as allowed."""
        if (markdown, status, controls) == (self._markdown, self._status, self._controls):
            return
        self._markdown, self._status, self._controls = markdown, status, controls
        if self._flusher is None and not self._closing.is_set():
            self._flusher = asyncio.create_task(self._flush_loop(), name="reply-writer")
        self._wake.set()

    async def finish(self, markdown: str, *, controls: Controls | None = None) -> list[str]:
        """Write the final text exactly (waiting for the budget if needed); return message keys.

        Raises :class:`SinkError` when the platform refused it every time.
        """
        await self._stop_flusher()
        self._markdown, self._status, self._controls = markdown, "", controls
        for attempt in range(1, FINAL_TRIES + 1):
            try:
                await self._sync(final=True)
                break
            except SinkError as exc:
                if attempt == FINAL_TRIES:
                    log.error("could not write the final answer: %s", exc)
                    raise
                log.warning("final answer write failed (%s); retrying", exc)
                await asyncio.sleep(0.5 * attempt)
        return self.message_keys

    async def _stop_flusher(self) -> None:
        task, self._flusher = self._flusher, None
        self._closing.set()
        if task is None:
            return
        if not self._in_call:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _flush_loop(self) -> None:
        interval = self._sink.limits.edit_interval
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._keys:
                delay = self._last_edit + interval - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), timeout=delay)
            if self._closing.is_set():
                return
            try:
                await self._sync(final=False)
            except SinkError as exc:  # the next update or the final write tries again
                log.warning("could not update an answer in progress: %s", exc)

    def _layout(self, final: bool) -> list[Message]:
        text = self._markdown
        if self._status and not final:
            text = f"{text}\n\n_{self._status}_" if text else f"_{self._status}_"
        return lay_out(text, self._sink, controls=self._controls, max_parts=self._max_parts)

    async def _sync(self, *, final: bool) -> None:
        messages = self._layout(final)
        last = len(messages) - 1
        for index, message in enumerate(messages):
            if not final and self._closing.is_set():
                return
            if index >= len(self._shown):
                await self._call_post(message)
            elif self._shown[index] != message:
                await self._call_edit(index, message, final or index < last)
        if final:
            for index in range(len(messages), len(self._shown)):
                # the answer shrank (moderation replaced it): blank what is left over
                await self._call_edit(index, Message(BLANK, (BLANK,)), True)

    async def _call_post(self, message: Message) -> None:
        self._in_call = True
        try:
            key = await self._sink.post(message)
        finally:
            self._in_call = False
        self._keys.append(key)
        self._shown.append(message)
        self._last_edit = time.monotonic()

    async def _call_edit(self, index: int, message: Message, final: bool) -> None:
        budget = self._sink.edit_budget
        if budget is not None:
            await budget.acquire(final=final)
        self._in_call = True
        try:
            await self._sink.edit(self._keys[index], message, final=final)
        finally:
            self._in_call = False
        self._shown[index] = message
        self._last_edit = time.monotonic()
        self.edits += 1
