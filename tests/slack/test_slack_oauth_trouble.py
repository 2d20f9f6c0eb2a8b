"""Many workspaces when things are not simple: Slack Connect channels, a failing store,
hostile requests to the install pages."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sqlite3
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet

from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.browser import finish_install, install, start_install
from tests.slack.conftest import eventually, running_slack_bot
from tests.slack.test_slack_oauth import base_url, installed, installed_teams, oauth_bot


async def test_a_slack_connect_channel_another_workspace_created_is_answered(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    """Slack names the channel's creator (not installed here) as the event's team_id; the
    answer goes out with the token of the installation the event was delivered to."""
    async with oauth_bot(fake_slack, fake_dify, tmp_path / "bridge.db") as bot:
        await installed(bot, "T2", "CSHARED")
        with fake_slack.acting_in("T2"):
            event = fake_slack.user_message(
                "CSHARED", "hello across orgs", mention=True, event_type="app_mention"
            )
            body = fake_slack.event_callback(event, source_team="T9OTHER")
            status, _ = await fake_slack.post_event(bot.events_url, body)
            assert status == 200
            await bot.answered("CSHARED", event["ts"])
    assert [r["query"] for r in fake_dify.chat_requests] == ["Alice: hello across orgs"]
    posted = [c for c in fake_slack.calls if c.args.get("channel") == "CSHARED"]
    assert posted and {c.token for c in posted} == {fake_slack.installs["T2"].token}
    assert all(c.ok for c in posted), [(c.method, c.error) for c in posted]


def _tables(db: Path, sql: str) -> None:
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(sql)


async def test_a_store_failing_during_authorization_has_slack_send_the_event_again(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    """Not "please reinstall" and a 200 that loses the message: a 503, and Slack's retry
    is answered once the store is back."""
    db = tmp_path / "bridge.db"
    async with oauth_bot(fake_slack, fake_dify, db) as bot:
        await installed(bot, "T2", "C2")
        _tables(db, "ALTER TABLE slack_bots RENAME TO slack_bots_away")  # the store fails
        with fake_slack.acting_in("T2"):
            event = fake_slack.user_message(
                "C2", "while the store is down", mention=True, event_type="app_mention"
            )
            body = fake_slack.event_callback(event)
            status, text = await fake_slack.post_event(bot.events_url, body)
            assert status == 503 and "reinstall" not in text
            fields = fake_slack.slash_command("C2", "help")
            status, text = await fake_slack.post_command(bot.events_url, fields)
            assert "reinstall" not in text
            assert not fake_slack.calls_to("chat.postMessage")  # no "reinstall" via response_url
            _tables(db, "ALTER TABLE slack_bots_away RENAME TO slack_bots")
            status, _ = await fake_slack.post_event(bot.events_url, body, retry_num=1)
            assert status == 200
            await bot.answered("C2", event["ts"])
    assert [r["query"] for r in fake_dify.chat_requests] == ["Alice: while the store is down"]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?code=",
        "?state=",
        "?code=x&state=",
        "?error=access_denied&state=nope",
        "?code=" + "a" * 6000 + "&state=" + "b" * 1500,
        "?code=%ff%fe&state=%00",
        "?code=a&code=b&state=c&state=d",
    ],
)
async def test_hostile_requests_to_the_install_pages_get_a_page_not_a_trace(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path, query: str
) -> None:
    async with oauth_bot(fake_slack, fake_dify, tmp_path / "bridge.db") as bot:
        for path in ("/slack/oauth_redirect", "/slack/install"):
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{base_url(bot)}{path}{query}", allow_redirects=False) as response,
            ):
                page = await response.text()
            assert response.status < 500, (path, response.status, page[:300])
            assert "Traceback" not in page and "Error" not in page.split("<title>")[0]
    assert fake_slack.granted_codes == 0


async def test_a_listener_failing_after_the_ack_is_one_log_line_without_a_traceback(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """bolt hands a failure after the ack to the error handler with no response; answering
    one there is bolt's AssertionError, and asyncio logs its traceback."""
    db = tmp_path / "bridge.db"
    caplog.set_level(logging.WARNING)
    async with running_slack_bot(fake_slack, fake_dify, db) as bot:
        _tables(db, "ALTER TABLE threads RENAME TO threads_away")  # the store fails
        thread_ts = fake_slack.next_ts()
        started = {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": "U1",
                "channel_id": "D1",
                "thread_ts": thread_ts,
                "context": {"channel_id": "C1", "team_id": fake_slack.home.team_id},
            },
            "event_ts": thread_ts,
        }
        await bot.send(started)
        await eventually(lambda: "acknowledged and dropped" in caplog.text)
        await asyncio.sleep(0)  # the listener's task is done: asyncio would log it now
        gc.collect()
    (line,) = [r for r in caplog.records if "acknowledged and dropped" in r.getMessage()]
    assert "no such table" in line.getMessage() and line.exc_info is None
    assert "Traceback" not in caplog.text and "AssertionError" not in caplog.text


async def test_slack_out_of_reach_during_the_redirect_gives_a_page_to_try_again(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "bridge.db"
    async with oauth_bot(fake_slack, fake_dify, db) as bot:
        started = await start_install(base_url(bot))
        fake_slack.oauth_unreachable = True
        code = fake_slack.allow_install("T2")
        dropped = await finish_install(base_url(bot), code, started.state, started.cookie)
        assert dropped.status == 503 and "try again" in dropped.page
        fake_slack.oauth_unreachable = False
        done = await install(base_url(bot), fake_slack, "T2")  # tried again: installed
        assert done.status == 200, done.page
    assert "Traceback" not in caplog.text
    assert installed_teams(db) == {"-:T2"}


@pytest.mark.parametrize("later_key", ["another", ""])
async def test_tokens_sealed_with_another_key_are_one_clear_error_until_installed_again(
    fake_slack: FakeSlack,
    fake_dify: FakeDify,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    later_key: str,
) -> None:
    db = tmp_path / "bridge.db"
    first = Fernet.generate_key().decode()
    then = Fernet.generate_key().decode() if later_key else ""
    async with oauth_bot(fake_slack, fake_dify, db, TOKEN_ENCRYPTION_KEY=first) as bot:
        await installed(bot, "T2", "C2")
    caplog.set_level(logging.INFO)
    async with oauth_bot(fake_slack, fake_dify, db, TOKEN_ENCRYPTION_KEY=then) as bot:
        with fake_slack.acting_in("T2"):
            event = fake_slack.user_message(
                "C2", "unreadable", mention=True, event_type="app_mention"
            )
            status, _ = await fake_slack.post_event(
                bot.events_url, fake_slack.event_callback(event)
            )
            assert status == 200  # nothing Slack could do by sending it again
            assert "TOKEN_ENCRYPTION_KEY" in caplog.text
            await installed(bot, "T2", "C2")  # installing again seals with the key now set
            await bot.ask("C2", "readable again")
    token = fake_slack.installs["T2"].token
    assert token not in caplog.text and "Traceback" not in caplog.text
    assert [r["query"] for r in fake_dify.chat_requests] == ["Alice: readable again"]
