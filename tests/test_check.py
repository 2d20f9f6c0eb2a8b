"""``dify-bridge check`` as an admin runs it before the first start: one line per check,
exit 1 only when something required is missing, and nothing changed on disk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dify_bridge.config import parse_settings
from dify_bridge.demo.fake_dify import FakeDify
from dify_bridge.ops.checks import check_store
from dify_bridge.ops.platform_checks import DISCORD_PERMISSIONS, check_discord, check_slack
from dify_bridge.ops.slack_scopes import SLACK_SCOPES
from dify_bridge.store import open_store
from dify_bridge.store.schema import SCHEMA_VERSION
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, MANIFEST, SIGNING_SECRET, FakeSlack

from .test_cli import run_cli

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


def _dify(fake_dify: FakeDify) -> dict[str, str]:
    return {"DIFY_API_URL": fake_dify.url, "DIFY_API_KEY": "app-test"}


def _socket_mode(slack: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
    }


def _absolute(folder: Path, name: str) -> Path:
    return folder.resolve() / name


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_the_manifest_asks_for_exactly_the_scopes_the_code_knows() -> None:
    manifest = json.loads(MANIFEST.read_text())
    in_manifest = manifest["oauth_config"]["scopes"]["bot"]
    assert len(in_manifest) == len(set(in_manifest)), "a scope is listed twice"
    assert set(in_manifest) == {scope.name for scope in SLACK_SCOPES}
    assert "mpim:read" in in_manifest, "group DM names need mpim:read"


async def test_a_first_check_creates_no_database_and_says_where_it_will_be(
    fake_dify: FakeDify, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    (tmp_path / "keep.txt").write_text("the admin's own file")
    before = _tree(tmp_path)
    code, out, err = await run_cli(
        "check", cwd=tmp_path, env=_dify(fake_dify) | _socket_mode(fake_slack)
    )
    assert code == 0, out + err
    assert f"ok    store: will be created at {_absolute(tmp_path, 'dify-bridge.db')}" in out
    assert "ok    slack: bot 'bridge-bot' in workspace 'Fake Team' (Socket Mode)" in out
    assert "ok    slack app token: Socket Mode can connect" in out
    assert (
        f"ok    slack scopes: the {len(SLACK_SCOPES) - 1} scopes the settings use are granted"
        in out
    )
    assert _tree(tmp_path) == before, "check must leave the folder as it found it"
    assert [c.token for c in fake_slack.calls_to("apps.connections.open")] == [APP_TOKEN]


async def test_an_existing_database_is_read_without_a_side_file_or_an_upgrade(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'bridge.db'}")
    await store.close()
    before = _tree(tmp_path)
    assert list(before) == ["bridge.db"]
    env = _dify(fake_dify) | {"DATABASE_URL": "sqlite:///bridge.db"}
    code, out, err = await run_cli("check", cwd=tmp_path, env=env)
    assert code == 0, out + err
    assert f"ok    store: {_absolute(tmp_path, 'bridge.db')} (schema v{SCHEMA_VERSION})" in out
    assert _tree(tmp_path) == before


async def test_postgresql_is_read_without_migrating(postgres_url: str, tmp_path: Path) -> None:
    settings = parse_settings({"DIFY_API_KEY": "app-x", "DATABASE_URL": postgres_url})

    empty = await check_store(settings)
    assert empty.ok and empty.detail.endswith("(empty; the tables are created at start)")
    assert "(empty" in (await check_store(settings)).detail, "the check created nothing"
    store = await open_store(postgres_url)
    await store.close()
    migrated = await check_store(settings)
    assert migrated.ok and migrated.detail.endswith(f"(schema v{SCHEMA_VERSION})")


async def test_a_token_without_a_scope_names_it_and_the_feature_it_breaks(
    fake_slack: FakeSlack,
) -> None:
    fake_slack.scopes = [
        s for s in fake_slack.scopes if s not in ("channels:history", "files:read")
    ]
    settings = parse_settings({"DIFY_API_KEY": "app-x"} | _socket_mode(fake_slack))

    async with httpx.AsyncClient() as http:
        results = await check_slack(settings, http)
    lines = [r.line() for r in results]
    assert lines[:2] == [
        "ok    slack: bot 'bridge-bot' in workspace 'Fake Team' (Socket Mode)",
        "ok    slack app token: Socket Mode can connect",
    ]
    assert lines[2].startswith(
        "FAIL  slack scope channels:history: missing: following threads in public channels needs it"
    )
    assert lines[3].startswith("warn  slack scope files:read: missing: files and voice messages")
    assert "reinstall the app" in lines[2]
    assert len(lines) == 4


async def test_a_scope_only_an_enabled_feature_needs_is_checked_only_then(
    fake_slack: FakeSlack,
) -> None:

    fake_slack.scopes = [s for s in fake_slack.scopes if s != "files:write"]
    base = {"DIFY_API_KEY": "app-x"} | _socket_mode(fake_slack)
    async with httpx.AsyncClient() as http:
        quiet = await check_slack(parse_settings(base), http)
        voice = await check_slack(parse_settings(base | {"VOICE_REPLIES": "always"}), http)
    assert all(r.ok and not r.warning for r in quiet)
    assert [r.line() for r in voice if r.warning] == [
        "warn  slack scope files:write: missing: spoken answers (VOICE_REPLIES) will not work "
        "without it; add it in OAuth & Permissions (or the manifest), then reinstall the app"
    ]


async def test_a_wrong_app_token_fails_the_check_and_exits_1(
    fake_dify: FakeDify, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = _dify(fake_dify) | _socket_mode(fake_slack) | {"SLACK_APP_TOKEN": "xapp-wrong-0042"}
    code, out, err = await run_cli("check", cwd=tmp_path, env=env)
    assert code == 1
    assert (
        "FAIL  slack app token: apps.connections.open with SLACK_APP_TOKEN failed: invalid_auth"
        in out
    )
    assert "xapp-wrong-0042" not in out + err


async def test_http_mode_does_not_ask_for_a_socket(fake_slack: FakeSlack) -> None:

    env = {
        "DIFY_API_KEY": "app-x",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
    }
    async with httpx.AsyncClient() as http:
        results = await check_slack(parse_settings(env), http)
    assert [r.service for r in results] == ["slack", "slack scopes"]
    assert fake_slack.calls_to("apps.connections.open") == []


async def test_a_discord_app_without_the_message_content_intent_fails(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    async with FakeDiscord(message_content_enabled=False) as fake:
        code, out, _ = await run_cli("check", cwd=tmp_path, env=_dify(fake_dify) | fake.env())
    assert code == 1
    assert "ok    discord: bot 'dify-bot'" in out
    assert "FAIL  discord intent: Message Content is off" in out
    assert "MESSAGE CONTENT INTENT" in out


async def test_discord_check_prints_the_invite_with_its_permissions() -> None:

    async with FakeDiscord() as fake, httpx.AsyncClient() as http:
        settings = parse_settings({"DIFY_API_KEY": "app-x"} | fake.env())
        results = await check_discord(settings, http)
    assert [r.line().splitlines()[0] for r in results[:2]] == [
        f"ok    discord: bot 'dify-bot' (id {fake.bot.id})",
        "ok    discord intent: Message Content is on",
    ]
    invite = results[2]
    assert invite.detail == (
        f"https://discord.com/oauth2/authorize?client_id={fake.application_id}"
        "&scope=bot+applications.commands&permissions=309237763136"
    )
    assert [note.split(":")[0] for note in invite.notes] == [p.name for p in DISCORD_PERMISSIONS]
