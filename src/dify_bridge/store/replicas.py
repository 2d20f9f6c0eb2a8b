"""Which replicas are alive, what each asks of the shared budgets, and answers in flight.

:class:`ReplicaBoard` is what the engine's presence (``core.presence``) and
its ledger of answers in flight (``core.inflight``) get from the store:

* each live replica writes one heartbeat row every couple of seconds
  (:meth:`ReplicaBoard.beat`) and reads everyone's back in the same round
  trip; a row not renewed for ``ttl`` seconds is a dead replica;
* an answer being streamed has a row from its start to its end, naming the
  replica that streams it; a survivor takes a dead replica's rows (each one
  exactly once: :meth:`ReplicaBoard.take_orphans` deletes what it returns).

An embedded store (SQLite, one process) is never shared: :class:`LocalReplicaBoard`
keeps nothing and the replica is always alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AnswerInFlight", "LocalReplicaBoard", "ReplicaBeat", "ReplicaBoard"]


@dataclass(frozen=True)
class ReplicaBeat:
    """One live replica as its last heartbeat described it."""

    replica_id: str
    demand: Mapping[str, int]
    """Answers it streams per place (``slack:T1``: one Slack workspace)."""
    paused: Mapping[str, float]
    """Seconds each ``place method`` is still paused by a 429 it saw."""


@dataclass(frozen=True)
class AnswerInFlight:
    """An answer some replica is streaming, with what a survivor needs to mark it."""

    answer_key: str
    platform: str
    thread_key: str
    replica_id: str
    question_key: str = ""
    """The user's message (where a thinking indicator may sit); "" if unknown."""
    message_keys: tuple[str, ...] = ()
    task_id: str = ""
    workflow_run_id: str = ""


class ReplicaBoard(Protocol):
    shared: bool
    """False for a store only one process opens: nothing is kept, nothing is shared."""

    async def beat(
        self,
        replica_id: str,
        *,
        demand: Mapping[str, int],
        paused: Mapping[str, float],
        ttl: float,
    ) -> list[ReplicaBeat]:
        """Renew this replica's row; every replica seen within ``ttl`` s (this one too)."""
        ...

    async def leave(self, replica_id: str) -> None:
        """This replica stops: its row goes at once (its shares return to the others)."""
        ...

    async def save_answers(
        self, answers: Sequence[AnswerInFlight], *, update_only: bool = False
    ) -> None:
        """Record (or update) answers in flight; ``update_only``: only those still
        recorded (one that ended meanwhile is not written back)."""
        ...

    async def end_answer(self, answer_key: str) -> None:
        """The answer ended (whichever way): forget it."""
        ...

    async def take_orphans(self, platforms: Sequence[str], ttl: float) -> list[AnswerInFlight]:
        """Take the answers in flight on ``platforms`` whose replica has not been seen for
        ``ttl`` s: each row is returned to exactly one caller, and deleted."""
        ...


class LocalReplicaBoard:
    """One process: always alone, and its answers end with it or are marked by it."""

    shared = False

    async def beat(
        self,
        replica_id: str,
        *,
        demand: Mapping[str, int],
        paused: Mapping[str, float],
        ttl: float,
    ) -> list[ReplicaBeat]:
        return [ReplicaBeat(replica_id, dict(demand), {})]

    async def leave(self, replica_id: str) -> None:
        pass

    async def save_answers(
        self, answers: Sequence[AnswerInFlight], *, update_only: bool = False
    ) -> None:
        pass

    async def end_answer(self, answer_key: str) -> None:
        pass

    async def take_orphans(self, platforms: Sequence[str], ttl: float) -> list[AnswerInFlight]:
        return []
