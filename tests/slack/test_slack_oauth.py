"""Many workspaces: installs through OAuth, each workspace answered with its own token."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.dify import FakeDify
from tests.fakes.slack import CLIENT_ID, CLIENT_SECRET, FakeSlack
from tests.slack.browser import finish_install, install, start_install
from tests.slack.conftest import SlackBot, running_slack_bot


def oauth_env(slack: FakeSlack, **env: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "",
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
    } | env


@contextlib.asynccontextmanager
async def oauth_bot(
    slack: FakeSlack, dify: FakeDify, db_path: Path, **env: str
) -> AsyncIterator[SlackBot]:
    async with running_slack_bot(slack, dify, db_path, **oauth_env(slack, **env)) as bot:
        yield bot


def base_url(bot: SlackBot) -> str:
    return f"http://127.0.0.1:{bot.adapter.port}"


def rows(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return db.execute(sql).fetchall()


async def test_smoke(fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path) -> None:
    async with oauth_bot(fake_slack, fake_dify, tmp_path / "b.db") as bot:
        done = await install(base_url(bot), fake_slack, "T2")
        assert done.status == 200, done.page
        fake_slack.add_channel("C2", "T2")
        with fake_slack.acting_in("T2"):
            await bot.ask("C2", "hello")
        print(rows(tmp_path / "b.db", "SELECT * FROM slack_installations"))
        print([ (c.method, c.token, c.error) for c in fake_slack.calls])
