"""Answers in flight, recorded in the store so a survivor can mark a dead replica's ones.

Each answer gets a row when it starts and loses it when it ends, whichever
way (two writes a turn), and its message keys are written when a message is
posted (one write per message of about 4,000 characters: a survivor must
know which message to mark). Dify's task id, when it changed, is written in
one batch for all answers at the next heartbeat.

On each beat the ledger also takes the rows of replicas that stopped
beating (each row goes to one survivor: the store deletes what it hands
out) and has the platform's :class:`~dify_bridge.core.ports.AnswerMarker` end
them with the interrupted notice, without Stop button or thinking indicator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import replace
from typing import Protocol

from dify_bridge.core import notices
from dify_bridge.core.ports import AnswerMarker, LeftAnswer
from dify_bridge.core.presence import Presence
from dify_bridge.core.stream import TurnResult
from dify_bridge.core.types import Incoming
from dify_bridge.core.writer import ReplyWriter
from dify_bridge.errors import SinkError, StoreError
from dify_bridge.ops.metrics import Metrics
from dify_bridge.store.replicas import AnswerInFlight, ReplicaBoard


class Turn(Protocol):
    """What the ledger reads of a running turn (``core.turn.Turn``)."""

    @property
    def incoming(self) -> Incoming: ...

    @property
    def message_keys(self) -> list[str]: ...

    @property
    def result(self) -> TurnResult: ...

    @property
    def writer(self) -> ReplyWriter: ...


__all__ = ["AnswerLedger"]

log = logging.getLogger(__name__)

MARK_TRIES = 5
"""Beats on which a survivor tries to mark one answer before it gives up."""


class AnswerLedger:
    def __init__(self, board: ReplicaBoard, presence: Presence, metrics: Metrics) -> None:
        self._board = board
        self._presence = presence
        self._metrics = metrics
        self._live: dict[str, tuple[Turn, AnswerInFlight]] = {}
        self._markers: dict[str, AnswerMarker] = {}
        self._failures: dict[str, int] = {}
        self._saving: set[asyncio.Task[None]] = set()
        self._unended: set[str] = set()
        """Answers that ended while the store could not forget them: retried at each beat
        (left there, a survivor would mark a finished answer interrupted)."""
        presence.after_beat(self._on_beat)

    def mark_with(self, platform: str, marker: AnswerMarker) -> None:
        """``platform``'s answers left by a dead replica are marked through ``marker``."""
        self._markers[platform] = marker

    async def begin(self, turn: Turn) -> str:
        """Record the turn's answer; its key ("" when nothing is recorded: an embedded
        store, or a bridge without heartbeats, whose answers nobody could tell apart
        from a dead replica's)."""
        if not self._board.shared or not self._presence.beating:
            return ""
        incoming = turn.incoming
        answer = AnswerInFlight(
            uuid.uuid4().hex,
            incoming.platform,
            incoming.thread_key,
            self._presence.replica_id,
            question_key=incoming.message_key,
        )
        try:
            await self._board.save_answers([answer])
        except StoreError as exc:  # the answer goes on; only a takeover would miss it
            log.warning("answer in %s not recorded as in flight: %s", incoming.thread_key, exc)
            return ""
        self._live[answer.answer_key] = (turn, answer)
        turn.writer.on_new_message = lambda: self._save_soon(answer.answer_key)
        return answer.answer_key

    def _save_soon(self, answer_key: str) -> None:
        """A message was posted: its key goes to the store now, beside the answer."""
        task = asyncio.create_task(self._refresh([answer_key]), name="answer-in-flight")
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def end(self, answer_key: str) -> None:
        if self._live.pop(answer_key, None) is None:
            return
        try:
            await self._board.end_answer(answer_key)
        except StoreError as exc:
            log.warning("answer %s still recorded as in flight: %s", answer_key, exc)
            self._unended.add(answer_key)

    async def _on_beat(self) -> None:
        await self._forget_ended()
        await self._refresh()
        await self._take_over()

    async def _forget_ended(self) -> None:
        for answer_key in list(self._unended):
            try:
                await self._board.end_answer(answer_key)
            except StoreError:
                return  # still away: the next beat tries again
            self._unended.discard(answer_key)

    async def _refresh(self, keys: list[str] | None = None) -> None:
        """One write for every answer (of ``keys``, or all) whose messages or Dify task
        changed since it was last written."""
        changed = []
        for key in list(self._live) if keys is None else keys:
            if key not in self._live:
                continue
            turn, answer = self._live[key]
            now = replace(
                answer,
                message_keys=tuple(turn.message_keys),
                task_id=turn.result.task_id,
            )
            if now != answer:
                self._live[key] = (turn, now)
                changed.append(now)
        if not changed:
            return
        try:
            # rows only: an answer that ended meanwhile must not come back
            await self._board.save_answers(changed, update_only=True)
        except StoreError as exc:
            log.warning("answers in flight not updated: %s", exc)

    async def _take_over(self) -> None:
        platforms = [name for name, marker in self._markers.items() if marker.can_mark]
        if not platforms or not self._presence.steady:
            return  # after a missed beat, a missing row may be a database that was away
        try:
            orphans = await self._board.take_orphans(platforms, self._presence.ttl)
        except StoreError as exc:
            log.warning("cannot look for answers left in flight: %s", exc)
            return
        for done, orphan in enumerate(orphans):
            left = LeftAnswer(orphan.thread_key, orphan.question_key, orphan.message_keys)
            try:
                await self._markers[orphan.platform].mark_interrupted(left, notices.INTERRUPTED)
            except (SinkError, StoreError) as exc:  # a workspace's token read from the store
                await self._give_back(orphan, exc)
                continue
            except asyncio.CancelledError:  # this replica stops: the rest go back, unmarked
                with contextlib.suppress(StoreError):
                    await self._board.save_answers(orphans[done:])
                raise
            self._failures.pop(orphan.answer_key, None)
            self._metrics.taken_over.labels(orphan.platform).inc()
            log.info(
                "marked the answer in %s interrupted (replica %s stopped)",
                orphan.thread_key,
                orphan.replica_id,
            )

    async def _give_back(self, orphan: AnswerInFlight, exc: SinkError | StoreError) -> None:
        """Not marked: back in the store (still the dead replica's) for a later beat,
        here or on another survivor, a few times."""
        tries = self._failures[orphan.answer_key] = self._failures.get(orphan.answer_key, 0) + 1
        log.warning("answer left in %s not marked (try %d): %s", orphan.thread_key, tries, exc)
        if tries >= MARK_TRIES:
            self._failures.pop(orphan.answer_key, None)
            return
        try:
            await self._board.save_answers([orphan])
        except StoreError as error:
            log.warning("answer left in %s given up: %s", orphan.thread_key, error)
