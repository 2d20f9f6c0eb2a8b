"""The PostgreSQL store's forms: a workflow's Human Input forms waiting in threads.

A form is claimed with one conditional ``UPDATE``, so of two clicks (on any
replicas) exactly one submits it.
"""

from __future__ import annotations

import asyncpg

from dify_bridge.store.pg_locks import translated
from dify_bridge.store.records import FORM_CLOSED, FORM_SUBMITTING, FORM_WAITING, FormRecord

__all__ = ["PostgresForms"]

_NOW = "extract(epoch FROM clock_timestamp())"
_FORM_FIELDS = (
    "form_key, thread_key, form_token, workflow_run_id, dify_user, app, message_key,"
    " expires_at, body, state"
)


class PostgresForms:
    """Mixed into :class:`~dify_bridge.store.postgres.PostgresStore` (its pool and name)."""

    _pool: asyncpg.Pool
    _where: str

    async def save_form(self, r: FormRecord) -> None:
        with translated("save a form", self._where):
            await self._pool.execute(
                f"""
                INSERT INTO forms ({_FORM_FIELDS}, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {_NOW})
                ON CONFLICT (form_key) DO UPDATE SET
                    message_key = excluded.message_key, expires_at = excluded.expires_at,
                    body = excluded.body, state = excluded.state
                """,
                r.form_key,
                r.thread_key,
                r.form_token,
                r.workflow_run_id,
                r.dify_user,
                r.app,
                r.message_key,
                float(r.expires_at),
                r.body,
                r.state,
            )

    async def get_form(self, form_key: str) -> FormRecord | None:
        with translated("read a form", self._where):
            row = await self._pool.fetchrow(
                f"SELECT {_FORM_FIELDS} FROM forms WHERE form_key = $1", form_key
            )
        return None if row is None else _form(tuple(row))

    async def pending_form(self, thread_key: str, now: float) -> FormRecord | None:
        with translated("read a form", self._where):
            row = await self._pool.fetchrow(
                f"SELECT {_FORM_FIELDS} FROM forms WHERE thread_key = $1 AND state <> $2"
                " AND (expires_at = 0 OR expires_at > $3) ORDER BY created_at DESC LIMIT 1",
                thread_key,
                FORM_CLOSED,
                float(now),
            )
        return None if row is None else _form(tuple(row))

    async def claim_form(self, form_key: str) -> bool:
        with translated("claim a form", self._where):
            won = await self._pool.fetchval(
                "UPDATE forms SET state = $1 WHERE form_key = $2 AND state = $3 RETURNING 1",
                FORM_SUBMITTING,
                form_key,
                FORM_WAITING,
            )
        return won is not None

    async def set_form_state(self, form_key: str, state: str) -> None:
        with translated("close a form", self._where):
            await self._pool.execute(
                "UPDATE forms SET state = $1 WHERE form_key = $2", state, form_key
            )


def _form(values: tuple[object, ...]) -> FormRecord:
    texts = [str(v) for v in values]
    key, thread, token, run, user, app, message = texts[:7]
    expires = float(str(values[7] or 0))
    return FormRecord(key, thread, token, run, user, app, message, expires, texts[8], texts[9])
