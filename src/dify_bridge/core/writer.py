"""Shows one growing answer in a thread: first text at once, paced edits, exact end.

The writer owns the messages of one answer. It lays the Markdown out over
the sink's limits (:mod:`dify_bridge.core.layout`) and posts or edits only
the messages that changed. Intermediate edits are coalesced: whatever text
is newest when an edit is allowed is what gets sent, so a slow platform sees
fewer edits, never stale ones. The final text is always written.

With an :class:`~dify_bridge.core.ports.AppendingSink` the layout and the
pacing stay the same; a message the sink opened as a growing one gets only
the new end of its text (``append``) and, once complete, its last piece and
buttons (``close``). Text that does not extend what is shown goes through an
ordinary edit, so nothing is lost or shown twice. Status lines go to the
sink's ``show_status``, never into growing text.

When the sink's shared edit budget cannot refresh every live answer at least
every :data:`CROWDED_AFTER` seconds (many answers at once in one Slack
workspace), an answer that is about to post its first message grows by new
messages instead: each one a final piece cut at a clean boundary
(:mod:`dify_bridge.core.continuation`), posted at most every
:data:`CONTINUE_EVERY` seconds, the last one with the buttons. Posting is
rationed per channel, not per workspace, so the answer keeps growing
visibly; no Stop button or status line goes into those messages, since
they are never edited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from dify_bridge.core.continuation import find_cut
from dify_bridge.core.layout import MAX_PARTS, lay_out
from dify_bridge.core.ports import AppendingSink, Message, ReplySink
from dify_bridge.core.tables import hold_back_open_table
from dify_bridge.core.types import Controls
from dify_bridge.errors import SinkError

__all__ = ["ReplyWriter"]

log = logging.getLogger(__name__)

FINAL_TRIES = 3
BLANK = "…"
"""What a message left over after the answer shrank (moderation) is edited to."""
CROWDED_AFTER = 5.0
"""Seconds between edits past which an answer grows by new messages instead."""
CONTINUE_EVERY = 4.0
"""Seconds between two pieces of an answer that grows by new messages."""
FIRST_PIECE = 100
NEXT_PIECE = 300
"""Characters of the first and of each later piece posted while the answer grows
(past half the runaway cap, of a whole message)."""


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
        self._appending: AppendingSink | None = sink if isinstance(sink, AppendingSink) else None
        self._growing: set[int] = set()
        """Indexes of the messages the sink opened as growing ones and did not close yet."""
        self._status_set = False
        self._continuing: bool | None = None
        """True: the answer grows by new messages; None: not decided (nothing shown yet)."""
        self._posted_markdown = ""
        """While continuing: the Markdown the posted pieces show, in order."""
        self.edits = 0
        self.on_new_message: Callable[[], None] | None = None
        """Called when a message of the answer was posted or opened (its key is known)."""

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
        try:
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
        finally:
            if self._sink.edit_budget is not None:
                self._sink.edit_budget.leave(self)
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
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            # a piece held back as too soon is posted then, even if no more text comes
            interval = CONTINUE_EVERY if self._continuing else self._sink.limits.edit_interval
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
            except Exception as exc:  # a task boundary: the final text must still be written
                log.warning(
                    "could not update an answer in progress (%s): %s", type(exc).__name__, exc
                )

    def _layout(self, final: bool) -> list[Message]:
        text = self._markdown
        if self._status and not final and self._appending is None:
            text = f"{text}\n\n_{self._status}_" if text else f"_{self._status}_"
        if not final and self._appending is not None:
            text = hold_back_open_table(text)  # appended text cannot be taken back
        return lay_out(text, self._sink, controls=self._controls, max_parts=self._max_parts)

    async def _sync(self, *, final: bool) -> None:
        await self._write(final)
        if self._appending is not None and (final or not self._closing.is_set()):
            # after the messages: Slack clears a thread's status when a message is posted
            await self._show_status(self._appending, "" if final else self._status)

    async def _write(self, final: bool) -> None:
        if self._continuing and self._markdown.startswith(self._posted_markdown):
            await self._continue(final)
            return
        if self._continuing and not final and self._posted_markdown.startswith(self._markdown):
            return  # the text restarts (a resumed stream replays it): wait until it is back
        if self._continuing:  # Dify replaced the text: lay it all out again
            self._continuing = False
        messages = self._layout(final)
        last = len(messages) - 1
        for index, message in enumerate(messages):
            if not final and self._closing.is_set():
                return
            complete = final or index < last
            if index >= len(self._shown):
                if not (complete or self._appending is None) and await self._call_open(message):
                    continue
                if not complete and self._decide_continuing():
                    await self._continue(final)
                    return
                await self._call_post(message, complete=complete)
            elif index in self._growing:
                await self._grow(index, message, complete=complete)
            elif self._shown[index] != message:
                await self._call_edit(index, message, complete)
        if final:
            for index in range(len(messages), len(self._shown)):
                # the answer shrank (moderation replaced it): blank what is left over
                self._growing.discard(index)
                await self._call_edit(index, Message(BLANK, (BLANK,)), True)

    def _decide_continuing(self) -> bool:
        """Before the first post that will need edits: edit it, or grow by new messages?"""
        budget = self._sink.edit_budget
        if self._continuing is None and not self._shown and budget is not None:
            self._continuing = budget.seconds_per_answer(joining=True) > CROWDED_AFTER
        return bool(self._continuing)

    async def _continue(self, final: bool) -> None:
        """Post what the answer gained since its last piece as new, final messages."""
        rest = self._markdown[len(self._posted_markdown) :]
        room = self._max_parts - len(self._shown)
        if final:
            messages = lay_out(rest, self._sink, controls=self._controls, max_parts=room)
            if not messages and self._shown and self._controls:
                # nothing new to post: the buttons go under the last piece
                last = self._shown[-1]
                with_buttons = Message(last.text, last.blocks, self._controls)
                await self._call_edit(len(self._shown) - 1, with_buttons, True)
            await self._post_pieces(messages)
            self._posted_markdown = self._markdown
            return
        if self._shown and time.monotonic() - self._last_edit < CONTINUE_EVERY:
            return
        cut = find_cut(rest, self._piece_chars())
        if cut is None:
            return  # the rest waits for a boundary, or for the final
        messages = lay_out(rest[:cut], self._sink, controls=None)
        if len(messages) >= room:
            return  # the last message is the final one's: it may need the cut notice
        await self._post_pieces(messages)
        self._posted_markdown += rest[:cut]

    def _piece_chars(self) -> int:
        """The least a piece may be: past half the runaway cap, a whole message, so
        small pieces do not use up the messages a long answer needs."""
        if not self._shown:
            return FIRST_PIECE
        if len(self._shown) < self._max_parts // 2:
            return NEXT_PIECE
        return self._sink.limits.message_chars

    async def _post_pieces(self, messages: list[Message]) -> None:
        """Post the messages of one piece; when only some of them made it, the
        answer is laid out whole again (refused before any: the piece waits)."""
        before = len(self._shown)
        try:
            for message in messages:
                await self._call_post(message, complete=True)
        except SinkError:
            if len(self._shown) > before:
                self._continuing = False
            raise

    async def _show_status(self, sink: AppendingSink, status: str) -> None:
        """Every time while there is a status (Slack may have cleared it), and "" once after."""
        if status or self._status_set:
            self._status_set = bool(status)
            await sink.show_status(status)

    async def _call_open(self, message: Message) -> bool:
        assert self._appending is not None
        self._in_call = True
        try:
            key = await self._appending.open(message)
        finally:
            self._in_call = False
        if key is None:
            return False
        self._growing.add(len(self._keys))
        self._keys.append(key)
        self._shown.append(message)
        self._last_edit = time.monotonic()
        self._posted()
        return True

    async def _grow(self, index: int, message: Message, *, complete: bool) -> None:
        """Append to a growing message what its text gained; edit when it changed otherwise."""
        assert self._appending is not None
        shown = self._shown[index]
        if shown.text == message.text and not complete:
            return
        if message.text.startswith(shown.text):
            added = message.text[len(shown.text) :]
            self._in_call = True
            try:
                if complete:
                    grew = await self._appending.close(self._keys[index], added, message)
                else:
                    grew = await self._appending.append(self._keys[index], added)
            finally:
                self._in_call = False
            if grew:
                self._shown[index] = message
                self._last_edit = time.monotonic()
                if complete:
                    self._growing.discard(index)
                return
        self._growing.discard(index)  # the sink's edit ends the growing first
        await self._call_edit(index, message, complete)

    async def _call_post(self, message: Message, *, complete: bool) -> None:
        budget = self._sink.edit_budget
        if not complete and budget is not None:
            budget.enlist(self)  # this message will be edited
        self._in_call = True
        try:
            key = await self._sink.post(message)
        finally:
            self._in_call = False
        self._keys.append(key)
        self._shown.append(message)
        self._last_edit = time.monotonic()
        self._posted()

    def _posted(self) -> None:
        if self.on_new_message is not None:
            self.on_new_message()

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
