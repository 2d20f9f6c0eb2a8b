"""Slack installations and OAuth states, in the store's version 4 tables.

Written once for both backends: each store hands :class:`InstallationRecords`
a :data:`RunSql` that runs one statement with ``?`` placeholders (the
PostgreSQL store renumbers them) and returns its rows. So an install started
on one replica is finished on another, and every replica finds every token.

The store keeps what it is given: ``body`` (the installation without its
tokens, JSON) and ``tokens`` (JSON, or encrypted by the caller). It never
reads either.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

__all__ = ["InstallationRecord", "InstallationRecords", "RunSql"]

RunSql = Callable[[str, Sequence[object], str], Awaitable[Sequence[Sequence[object]]]]
"""Run one statement (``?`` placeholders) described by the last argument; its rows."""

_UPSERT = (
    "INSERT INTO {table} ({key}, {extra}body, tokens, updated_at) VALUES ({marks})"
    " ON CONFLICT ({key}) DO UPDATE SET {update}body = excluded.body,"
    " tokens = excluded.tokens, updated_at = excluded.updated_at"
)
_SAVE_INSTALLATION = _UPSERT.format(
    table="slack_installations",
    key="installation_key",
    extra="team_key, ",
    marks="?, ?, ?, ?, ?",
    update="team_key = excluded.team_key, ",
)
_SAVE_BOT = _UPSERT.format(
    table="slack_bots", key="team_key", extra="", marks="?, ?, ?, ?", update=""
)


@dataclass(frozen=True)
class InstallationRecord:
    """One stored installation (or bot): its key, its workspace's key, body and tokens."""

    key: str
    team_key: str
    body: str
    tokens: str


class InstallationRecords:
    """Installations per workspace (and per installing user), bots, and OAuth states."""

    def __init__(self, run: RunSql) -> None:
        self._run = run

    async def save_installation(self, records: Sequence[InstallationRecord]) -> None:
        now = time.time()
        for r in records:
            await self._run(
                _SAVE_INSTALLATION, (r.key, r.team_key, r.body, r.tokens, now), "save an install"
            )

    async def save_bot(self, record: InstallationRecord) -> None:
        row = (record.team_key, record.body, record.tokens, time.time())
        await self._run(_SAVE_BOT, row, "save a Slack bot")

    async def installation(self, key: str) -> InstallationRecord | None:
        rows = await self._run(
            "SELECT installation_key, team_key, body, tokens FROM slack_installations"
            " WHERE installation_key = ?",
            (key,),
            "read a Slack installation",
        )
        return _record(rows)

    async def bot(self, team_key: str) -> InstallationRecord | None:
        rows = await self._run(
            "SELECT team_key, team_key, body, tokens FROM slack_bots WHERE team_key = ?",
            (team_key,),
            "read a Slack bot",
        )
        return _record(rows)

    async def bot_of_team(self, team_id: str) -> InstallationRecord | None:
        """The bot of workspace ``team_id`` in or out of an Enterprise Grid organization
        (key ``{enterprise}:{team}``), the latest saved if more than one."""
        rows = await self._run(
            "SELECT team_key, team_key, body, tokens FROM slack_bots"
            " WHERE team_key LIKE ? ORDER BY updated_at DESC LIMIT 1",
            (f"%:{team_id}",),
            "read a Slack bot",
        )
        return _record(rows)

    async def delete_installations(self, team_key: str, key: str | None = None) -> None:
        """Every installation of the workspace, or only the one under ``key``."""
        if key is None:
            sql, args = "DELETE FROM slack_installations WHERE team_key = ?", (team_key,)
        else:
            sql, args = "DELETE FROM slack_installations WHERE installation_key = ?", (key,)
        await self._run(sql, args, "delete a Slack installation")

    async def delete_bot(self, team_key: str) -> None:
        await self._run(
            "DELETE FROM slack_bots WHERE team_key = ?", (team_key,), "delete a Slack bot"
        )

    async def issue_state(self, state: str, expires_at: float) -> None:
        await self._run(
            "INSERT INTO slack_oauth_states (state, expires_at) VALUES (?, ?)",
            (state, float(expires_at)),
            "issue an OAuth state",
        )

    async def consume_state(self, state: str, now: float) -> bool:
        """True once for a state issued and not expired: deleting it is the claim."""
        rows = await self._run(
            "DELETE FROM slack_oauth_states WHERE state = ? RETURNING expires_at",
            (state,),
            "consume an OAuth state",
        )
        await self._run(
            "DELETE FROM slack_oauth_states WHERE expires_at <= ?",
            (float(now),),
            "purge OAuth states",
        )
        return bool(rows) and float(str(rows[0][0])) > now


def _record(rows: Sequence[Sequence[object]]) -> InstallationRecord | None:
    if not rows:
        return None
    key, team_key, body, tokens = (str(value) for value in rows[0])
    return InstallationRecord(key, team_key, body, tokens)
