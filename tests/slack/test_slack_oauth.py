"""Many workspaces: installs through OAuth, each workspace answered with its own token."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from dify_bridge.ops.logs import NOISY_LOGGERS, quiet_noisy_loggers
from tests.fakes.dify import FakeDify
from tests.fakes.slack import CLIENT_ID, CLIENT_SECRET, FakeSlack
from tests.slack.browser import finish_install, install, start_install
from tests.slack.conftest import SlackBot, eventually, running_slack_bot


@contextlib.asynccontextmanager
async def oauth_bot(
    slack: FakeSlack, dify: FakeDify, db_path: Path, **env: str
) -> AsyncIterator[SlackBot]:
    """The bridge with a client id and secret and no bot token: OAuth, HTTP mode."""
    oauth = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": CLIENT_ID}
    oauth["SLACK_CLIENT_SECRET"] = CLIENT_SECRET
    async with running_slack_bot(slack, dify, db_path, **(oauth | env)) as bot:
        yield bot


def base_url(bot: SlackBot) -> str:
    return f"http://127.0.0.1:{bot.adapter.port}"


def rows(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return db.execute(sql).fetchall()


def installed_teams(db_path: Path) -> set[object]:
    bots = rows(db_path, "SELECT team_key FROM slack_bots")
    installs = rows(db_path, "SELECT team_key FROM slack_installations")
    return {key for (key,) in bots + installs}


async def installed(bot: SlackBot, team_id: str, channel: str) -> None:
    done = await install(base_url(bot), bot.slack, team_id)
    assert done.status == 200, done.page
    bot.slack.add_channel(channel, team_id)


async def test_two_workspaces_are_each_answered_with_their_own_token(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    async with oauth_bot(fake_slack, fake_dify, tmp_path / "bridge.db") as bot:
        started = await start_install(base_url(bot))
        assert started.query["client_id"] == [CLIENT_ID]
        assert "chat:write" in started.query["scope"][0].split(",")
        await installed(bot, "T2", "C2")
        await installed(bot, "T3", "C3")
        for team, channel in (("T2", "C2"), ("T3", "C3")):
            with fake_slack.acting_in(team):
                root = await bot.ask(channel, f"hello from {team}")
                await bot.reply(channel, root, f"more from {team}")
                assert len(fake_slack.thread_texts(channel, root)) == 2

    tokens = {team: fake_slack.installs[team].token for team in ("T2", "T3")}
    for team, channel in (("T2", "C2"), ("T3", "C3")):
        calls = [c for c in fake_slack.calls if c.args.get("channel") == channel]
        assert calls and all(c.ok for c in calls), [(c.method, c.error) for c in calls]
        assert {c.token for c in calls} == {tokens[team]}
    assert not [c for c in fake_slack.calls if c.method != "oauth.v2.access" and not c.ok]
    queries = [r["query"] for r in fake_dify.chat_requests]
    assert queries == [f"Alice: {w} from {t}" for t in ("T2", "T3") for w in ("hello", "more")]
    assert fake_slack.granted_codes == 2


async def test_forged_replayed_and_expired_states_are_refused_and_install_nothing(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.db"
    async with oauth_bot(fake_slack, fake_dify, db) as bot:
        url = base_url(bot)
        forged = await finish_install(url, fake_slack.allow_install("T2"), "made-up-state")
        assert forged.status in (400, 401) and "<html" in forged.page.lower()

        started = await start_install(url)  # a real state, but another browser's cookie
        other = await finish_install(url, fake_slack.allow_install("T2"), started.state, "x")
        assert other.status in (400, 401)

        expired = await start_install(url)
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("UPDATE slack_oauth_states SET expires_at = 0")  # 10 minutes later
        late = await finish_install(
            url, fake_slack.allow_install("T2"), expired.state, expired.cookie
        )
        assert late.status == 401
        assert fake_slack.granted_codes == 0 and installed_teams(db) == set()

        fresh = await start_install(url)
        done = await finish_install(url, fake_slack.allow_install("T2"), fresh.state, fresh.cookie)
        assert done.status == 200
        again = await finish_install(url, fake_slack.allow_install("T2"), fresh.state, fresh.cookie)
        assert again.status == 401, "a state is good for one install"
    assert fake_slack.granted_codes == 1
    assert installed_teams(db) == {"-:T2"}


async def test_allowed_teams_refuse_another_workspace_with_a_page_that_says_so(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.db"
    async with oauth_bot(fake_slack, fake_dify, db, SLACK_ALLOWED_TEAMS="T2") as bot:
        refused = await install(base_url(bot), fake_slack, "T9", "Elsewhere Inc")
        assert refused.status == 403
        assert "may not be installed in Elsewhere Inc" in refused.page
        assert installed_teams(db) == set()
        (revoked,) = fake_slack.calls_to("auth.revoke")  # Slack's side of the install undone
        assert revoked.ok and revoked.token == fake_slack.installs["T9"].token
        assert not fake_slack.installs["T9"].installed
        await installed(bot, "T2", "C2")
        with fake_slack.acting_in("T2"):
            await bot.ask("C2", "allowed here")
    assert installed_teams(db) == {"-:T2"}


@pytest.mark.parametrize("event", ["app_uninstalled", "tokens_revoked"])
async def test_an_uninstalled_workspace_is_deleted_and_sent_nothing_more(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path, event: str
) -> None:
    db = tmp_path / "bridge.db"
    async with oauth_bot(fake_slack, fake_dify, db) as bot:
        await installed(bot, "T2", "C2")
        await installed(bot, "T3", "C3")
        with fake_slack.acting_in("T2"):
            root = await bot.ask("C2", "before")
        fake_slack.uninstall("T2")
        body = (
            fake_slack.uninstall_event("T2")
            if event == "app_uninstalled"
            else fake_slack.tokens_revoked_event("T2")
        )
        status, _ = await fake_slack.post_event(bot.events_url, body)
        assert status == 200
        await eventually(lambda: installed_teams(db) == {"-:T3"})  # the listener runs after the ack
        calls_before = len(fake_slack.calls)

        with fake_slack.acting_in("T2"):
            late = fake_slack.user_message("C2", "after", thread_ts=root)
            status, text = await fake_slack.post_event(
                bot.events_url, fake_slack.event_callback(late)
            )
        assert status == 200 and "no longer available" in text  # bolt: no installation
        with fake_slack.acting_in("T3"):
            await bot.ask("C3", "still here")  # the other workspace goes on

    t2_token = fake_slack.installs["T2"].token
    assert not [c for c in fake_slack.calls[calls_before:] if c.token == t2_token]
    queries = [r["query"] for r in fake_dify.chat_requests]
    assert queries == ["Alice: before", "Alice: still here"]


async def test_installations_survive_a_restart_and_tokens_are_encrypted_at_rest(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.db"
    key = Fernet.generate_key().decode()
    async with oauth_bot(fake_slack, fake_dify, db, TOKEN_ENCRYPTION_KEY=key) as bot:
        await installed(bot, "T2", "C2")
    token = fake_slack.installs["T2"].token
    stored = rows(db, "SELECT tokens FROM slack_installations UNION SELECT tokens FROM slack_bots")
    assert stored and all(token not in str(value) for (value,) in stored)
    assert token not in db.read_bytes().decode("latin-1")
    assert Fernet(key.encode()).decrypt(str(stored[0][0]).encode()).decode().count(token) == 1

    async with oauth_bot(fake_slack, fake_dify, db, TOKEN_ENCRYPTION_KEY=key) as bot:
        with fake_slack.acting_in("T2"):
            await bot.ask("C2", "after the restart")
    assert [c.token for c in fake_slack.calls_to("chat.startStream")] == [token]


async def test_no_token_or_client_secret_reaches_the_log(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    quiet_noisy_loggers("DEBUG")  # as LOG_LEVEL=DEBUG sets them
    try:
        async with oauth_bot(fake_slack, fake_dify, tmp_path / "bridge.db") as bot:
            await installed(bot, "T2", "C2")
            await finish_install(base_url(bot), "used-code", "forged")
            with fake_slack.acting_in("T2"):
                await bot.ask("C2", "hello")
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    text = caplog.text
    assert "installed in Slack workspace T2" in text
    assert fake_slack.installs["T2"].token not in text
    assert CLIENT_SECRET not in text


async def test_switching_from_a_bot_token_to_oauth_keeps_the_threads_conversations(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    db = tmp_path / "bridge.db"
    async with running_slack_bot(fake_slack, fake_dify, db) as bot:
        root = await bot.ask("C1", "before the switch")
    async with oauth_bot(fake_slack, fake_dify, db) as bot:
        done = await install(base_url(bot), fake_slack, fake_slack.home.team_id)
        assert done.status == 200, done.page
        await bot.reply("C1", root, "after the switch")

    first, second = fake_dify.chat_requests
    assert first["conversation_id"] == "" and second["conversation_id"]
    (conversation,) = fake_dify.conversations.values()
    assert second["conversation_id"] == conversation.id
    assert len(conversation.messages) == 2


async def test_routes_keep_sending_each_workspace_to_its_app(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.api_keys |= {"app-two", "app-desk"}
    routes = tmp_path / "routes.toml"
    routes.write_text(
        f"""
[[routes]]
name = "desk"
slack_channels = ["C2DESK"]
api_url = "{fake_dify.url}"
api_key = "app-desk"

[[routes]]
name = "two"
slack_teams = ["T2"]
api_url = "{fake_dify.url}"
api_key = "app-two"
""",
        encoding="utf-8",
    )
    async with oauth_bot(
        fake_slack, fake_dify, tmp_path / "bridge.db", DIFY_ROUTES_FILE=str(routes)
    ) as bot:
        await installed(bot, "T2", "C2")
        await installed(bot, "T3", "C3")
        fake_slack.add_channel("C2DESK", "T2")
        with fake_slack.acting_in("T2"):
            await bot.ask("C2", "workspace two")
            await bot.ask("C2DESK", "the desk channel")
        with fake_slack.acting_in("T3"):
            await bot.ask("C3", "unrouted")

    keys = [r.headers.get("Authorization") for r in fake_dify.requests_to("/chat-messages")]
    assert keys == ["Bearer app-two", "Bearer app-desk", "Bearer app-test"]


async def test_files_feedback_and_assistant_threads_use_the_workspace_token(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.parameters["file_upload"] = {
        "enabled": True,
        "allowed_file_types": ["document"],
        "allowed_file_upload_methods": ["local_file"],
        "number_limits": 3,
    }
    fake_dify.parameters["suggested_questions"] = ["What can you do?"]
    async with oauth_bot(fake_slack, fake_dify, tmp_path / "bridge.db") as bot:
        await installed(bot, "T2", "C2")
        await installed(bot, "T3", "C3")
        fake_slack.add_channel("D2", "T3")
        with fake_slack.acting_in("T2"):
            shared = fake_slack.add_file("notes.txt", b"meeting at noon")
            event = fake_slack.user_message(
                "C2", "read this", mention=True, event_type="app_mention", files=[shared]
            )
            await bot.send(event)
            await bot.answered("C2", event["ts"])
            (answer,) = fake_slack.thread("C2", event["ts"])
            await bot.send(fake_slack.reaction_event("C2", answer.ts, "+1"))
            (message,) = fake_dify.messages.values()
            await eventually(lambda: message.rating == "like")
        with fake_slack.acting_in("T3"):
            thread_ts = fake_slack.next_ts()
            assistant = {
                "type": "assistant_thread_started",
                "assistant_thread": {"user_id": "U1", "channel_id": "D2", "thread_ts": thread_ts},
                "event_ts": thread_ts,
            }
            await bot.send(assistant)
            await fake_slack.wait_until(
                lambda: bool(fake_slack.calls_to("assistant.threads.setSuggestedPrompts"))
            )

    t2, t3 = fake_slack.installs["T2"].token, fake_slack.installs["T3"].token
    assert fake_slack.downloads == [(shared["id"], t2)]
    assert fake_dify.files and next(iter(fake_dify.files.values())).content == b"meeting at noon"
    assert {c.token for c in fake_slack.calls_to("users.info")} == {t2}  # names, is-bot checks
    (prompts,) = fake_slack.calls_to("assistant.threads.setSuggestedPrompts")
    assert prompts.token == t3 and prompts.ok
