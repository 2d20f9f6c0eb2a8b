"""Shows one growing answer in a thread: first text at once, paced edits, exact end.

The writer owns the messages of one answer. It renders the Markdown with the
sink, splits it over the sink's ``max_len`` and posts or edits only the
messages whose text changed. Intermediate edits are coalesced: whatever text
is newest when an edit is allowed is what gets sent, so a slow platform sees
fewer edits, never stale ones. The final text is always written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from dify_bridge.core.splitting import split_pieces
from dify_bridge.core.types import Controls, ReplySink

log = logging.getLogger(__name__)

MAX_PARTS = 30
"""Messages one answer may fill before it is cut (a runaway answer must not flood a thread)."""

CUT_NOTICE = "\n\n_(The answer was too long and has been cut here.)_"
FINAL_TRIES = 3


class ReplyWriter:
    def __init__(self, sink: ReplySink, *, max_parts: int = MAX_PARTS) -> None:
        self._sink = sink
        self._max_parts = max_parts
        self._markdown = ""
        self._status = ""
        self._controls: Controls | None = None
        self._keys: list[str] = []
        self._shown: list[tuple[str, Controls | None]] = []
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
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop(), name="reply-writer")
        self._wake.set()

    async def finish(self, markdown: str, *, controls: Controls | None = None) -> list[str]:
        """Write the final text exactly (waiting for the budget if needed); return message keys."""
        await self._stop_flusher()
        self._markdown, self._status, self._controls = markdown, "", controls
        for attempt in range(1, FINAL_TRIES + 1):
            try:
                await self._sync(final=True)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
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
        sink = self._sink
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._keys:
                delay = self._last_edit + sink.min_edit_interval - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._closing.wait(), timeout=delay)
            if self._closing.is_set():
                return
            try:
                await self._sync(final=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next update or the final write tries again
                log.warning("could not update an answer in progress: %s", exc)

    def _render(self, final: bool) -> list[str]:
        text = self._markdown
        if self._status and not final:
            text = f"{text}\n\n_{self._status}_" if text else f"_{self._status}_"
        if not text.strip():
            return []
        sink = self._sink
        # a runaway answer is cut anyway: render and split a bounded prefix only
        text = text[: 2 * self._max_parts * sink.max_len]
        pieces = split_pieces(sink.render(text), sink.max_len)
        if len(pieces) <= self._max_parts:
            return [piece.text for piece in pieces]
        # runaway answer: keep the first pieces as they are, fill the last one up
        # to room for the notice with the text that follows, and stop there
        notice = sink.render(CUT_NOTICE)
        kept = pieces[: self._max_parts - 1]
        rest = "".join(piece.body for piece in pieces[self._max_parts - 1 :])[: sink.max_len]
        reopen = pieces[self._max_parts - 1].reopen
        (last, *_) = split_pieces(reopen + rest, sink.max_len - len(notice))
        return [piece.text for piece in kept] + [last.text + notice]

    async def _sync(self, *, final: bool) -> None:
        parts = self._render(final)
        last = len(parts) - 1
        for index, part in enumerate(parts):
            if not final and self._closing.is_set():
                return
            wanted = (part, self._controls if index == last and self._controls else None)
            if index < len(self._shown):
                if self._shown[index] != wanted:
                    await self._call_edit(index, wanted, final or index < last)
            else:
                await self._call_post(wanted)
        if final:
            for index in range(len(parts), len(self._shown)):
                # the answer shrank (moderation replaced it): blank what is left over
                await self._call_edit(index, ("…", None), True)

    async def _call_post(self, wanted: tuple[str, Controls | None]) -> None:
        text, controls = wanted
        self._in_call = True
        try:
            if controls:
                key = await self._sink.post(text, controls=controls)
            else:
                key = await self._sink.post(text)
        finally:
            self._in_call = False
        self._keys.append(key)
        self._shown.append(wanted)
        self._last_edit = time.monotonic()

    async def _call_edit(
        self, index: int, wanted: tuple[str, Controls | None], final: bool
    ) -> None:
        budget = self._sink.edit_budget
        if budget is not None:
            await budget.acquire(final=final)
        text, controls = wanted
        had_controls = self._shown[index][1] is not None
        self._in_call = True
        try:
            if controls or had_controls:
                await self._sink.edit(self._keys[index], text, final=final, controls=controls)
            else:
                await self._sink.edit(self._keys[index], text, final=final)
        finally:
            self._in_call = False
        self._shown[index] = wanted
        self._last_edit = time.monotonic()
        self.edits += 1
