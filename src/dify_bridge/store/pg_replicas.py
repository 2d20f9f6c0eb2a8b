"""The replica board on PostgreSQL: heartbeat rows and answers in flight.

Freshness is judged by the database's clock, so replicas whose clocks
disagree still agree on who is alive. A beat is one statement (renew this
row, read every fresh one); taking orphans is one ``DELETE ... RETURNING``,
so of two survivors each row goes to exactly one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from dify_bridge.store.pg_locks import translated
from dify_bridge.store.replicas import AnswerInFlight, ReplicaBeat

__all__ = ["PostgresReplicaBoard"]

_NOW = "extract(epoch FROM clock_timestamp())"
_ANSWER_FIELDS = (
    "answer_key, platform, thread_key, replica_id, question_key, message_keys,"
    " task_id, workflow_run_id"
)
# $1 id, $2 demand, $3 paused (seconds from now), $4 ttl
_BEAT = f"""
    WITH renewed AS (
        INSERT INTO replicas (replica_id, last_seen, demand, paused)
        VALUES ($1, {_NOW}, $2, $3)
        ON CONFLICT (replica_id) DO UPDATE SET
            last_seen = excluded.last_seen, demand = excluded.demand, paused = excluded.paused
        RETURNING replica_id, demand, paused, last_seen
    )
    SELECT replica_id, demand, paused, {_NOW} - last_seen AS age FROM renewed
    UNION ALL
    SELECT replica_id, demand, paused, {_NOW} - last_seen FROM replicas
        WHERE replica_id <> $1 AND last_seen > {_NOW} - $4
"""
_ROWS = (
    "unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::text[], $6::text[], $7::text[], $8::text[])"
)
_UPSERT = f"""
    INSERT INTO answers_in_flight ({_ANSWER_FIELDS}, started_at)
    SELECT *, {_NOW} FROM {_ROWS}
    ON CONFLICT (answer_key) DO UPDATE SET
        message_keys = excluded.message_keys, task_id = excluded.task_id,
        workflow_run_id = excluded.workflow_run_id
"""
_UPDATE = f"""
    UPDATE answers_in_flight SET message_keys = given.message_keys, task_id = given.task_id,
        workflow_run_id = given.workflow_run_id
    FROM {_ROWS} AS given ({_ANSWER_FIELDS})
    WHERE answers_in_flight.answer_key = given.answer_key
"""
_FORGET_LONG_GONE = f"DELETE FROM replicas WHERE last_seen < {_NOW} - $1"
LONG_GONE_SECONDS = 3600.0
"""A dead replica's row is kept this long (its answers are taken well before)."""


class PostgresReplicaBoard:
    shared = True

    def __init__(self, pool: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self._where = where
        self._beats = 0

    async def beat(
        self,
        replica_id: str,
        *,
        demand: Mapping[str, int],
        paused: Mapping[str, float],
        ttl: float,
    ) -> list[ReplicaBeat]:
        # pauses travel as an end time on the database's clock, and come back as seconds
        # within the expiry or not at all: a connection that hangs (a silent network) would
        # hold every later beat back until TCP gives up, this replica dead to the others
        with translated("renew the replica's heartbeat", self._where):
            async with self._pool.acquire(timeout=ttl) as conn:
                now = float(await conn.fetchval(f"SELECT {_NOW}", timeout=ttl))
                until = {key: now + seconds for key, seconds in paused.items()}
                rows = await conn.fetch(
                    _BEAT, replica_id, json.dumps(demand), json.dumps(until), ttl, timeout=ttl
                )
                self._beats += 1
                if self._beats % 100 == 1:
                    await conn.execute(_FORGET_LONG_GONE, LONG_GONE_SECONDS, timeout=ttl)
        return [_beat(row, now) for row in rows]

    async def leave(self, replica_id: str) -> None:
        with translated("remove the replica's heartbeat", self._where):
            await self._pool.execute("DELETE FROM replicas WHERE replica_id = $1", replica_id)

    async def save_answers(
        self, answers: Sequence[AnswerInFlight], *, update_only: bool = False
    ) -> None:
        if not answers:
            return
        columns: list[list[str]] = [[] for _ in range(8)]
        for a in answers:
            values = (
                a.answer_key,
                a.platform,
                a.thread_key,
                a.replica_id,
                a.question_key,
                " ".join(a.message_keys),
                a.task_id,
                a.workflow_run_id,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        with translated("record answers in flight", self._where):
            await self._pool.execute(_UPDATE if update_only else _UPSERT, *columns)

    async def end_answer(self, answer_key: str) -> None:
        with translated("forget an answer in flight", self._where):
            await self._pool.execute(
                "DELETE FROM answers_in_flight WHERE answer_key = $1", answer_key
            )

    async def take_orphans(self, platforms: Sequence[str], ttl: float) -> list[AnswerInFlight]:
        with translated("take over answers in flight", self._where):
            rows = await self._pool.fetch(
                f"""
                DELETE FROM answers_in_flight WHERE platform = ANY($1::text[])
                    AND replica_id NOT IN (
                        SELECT replica_id FROM replicas WHERE last_seen > {_NOW} - $2)
                RETURNING {_ANSWER_FIELDS}
                """,
                list(platforms),
                ttl,
            )
        return [_answer(row) for row in rows]


def _beat(row: Any, now: float) -> ReplicaBeat:
    # another release may write entries this one cannot read: those are skipped
    paused = {k: v - now for k, v in _numbers(row["paused"]).items()}
    return ReplicaBeat(
        str(row["replica_id"]),
        {k: int(v) for k, v in _numbers(row["demand"]).items()},
        {key: seconds for key, seconds in paused.items() if seconds > 0},
    )


def _numbers(text: str) -> dict[str, float]:
    return {
        str(k): float(v)
        for k, v in _json(text).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _answer(row: Any) -> AnswerInFlight:
    keys = tuple(str(row["message_keys"]).split())
    return AnswerInFlight(
        str(row["answer_key"]),
        str(row["platform"]),
        str(row["thread_key"]),
        str(row["replica_id"]),
        str(row["question_key"]),
        keys,
        str(row["task_id"]),
        str(row["workflow_run_id"]),
    )
