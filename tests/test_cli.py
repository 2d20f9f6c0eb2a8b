"""The command line as a newcomer uses it: a real process, real pipes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.fakes.dify import FakeDify

CLEAN_ENV = {
    k: v for k, v in os.environ.items() if not k.startswith(("DIFY_", "SLACK_", "DISCORD_"))
}


async def run_cli(
    *args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None, limit: float = 60
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dify_bridge",
        *args,
        cwd=cwd,
        env=CLEAN_ENV | (env or {}),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), limit)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_run_without_credentials_is_the_offline_demo(tmp_path: Path) -> None:
    script = (
        "what is dify?\nand a follow-up\n/like\n/forget\nafter forgetting\n/new\nfresh\n/quit\n"
    )
    code, out, err = await run_cli("run", cwd=tmp_path, stdin=script)
    assert code == 0, err
    assert "offline fake Dify" in out
    assert "You said: **what is dify?**" in out
    assert "Earlier you asked: _what is dify?_" in out, "the follow-up keeps the conversation"
    assert "sent like to Dify" in out
    assert "no longer available, so this starts a new one" in out, "404 recovery is visible"
    assert "You said: **fresh**" in out
    assert "Traceback" not in out + err
    assert not (tmp_path / "dify-bridge.db").exists(), "the demo keeps nothing of its own"


async def test_a_bad_setting_stops_with_one_line(tmp_path: Path) -> None:
    code, _out, err = await run_cli(
        "run", cwd=tmp_path, env={"SLACK_BOT_TOKEN": "xoxb-123456789", "DIFY_API_KEY": "app-x"}
    )
    assert code == 2
    assert err.strip().splitlines() == [
        "dify-bridge: configuration error: SLACK_SIGNING_SECRET: set it (HTTP mode) or "
        "SLACK_APP_TOKEN (Socket Mode) next to SLACK_BOT_TOKEN"
    ]


async def test_missing_database_folder_is_one_clear_line(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    env = {
        "DIFY_API_URL": fake_dify.url,
        "DIFY_API_KEY": "app-test",
        "DATABASE_URL": "sqlite:///no/such/dir/x.db",
    }
    code, _, err = await run_cli("run", cwd=tmp_path, env=env, stdin="/quit\n")
    assert code == 1
    assert "database folder no/such/dir does not exist" in err
    assert "Traceback" not in err
    code, out, _ = await run_cli("check", cwd=tmp_path, env=env)
    assert code == 1
    assert "FAIL  store: the database folder no/such/dir does not exist" in out


async def test_a_half_set_up_platform_is_refused(tmp_path: Path) -> None:
    code, _, err = await run_cli("run", cwd=tmp_path, env={"SLACK_SIGNING_SECRET": "abc123"})
    assert code == 2
    assert "SLACK_BOT_TOKEN: is required" in err


async def test_an_api_base_without_v1_is_named(fake_dify: FakeDify, tmp_path: Path) -> None:
    env = {"DIFY_API_URL": fake_dify.url.removesuffix("/v1"), "DIFY_API_KEY": "app-test"}
    code, _, err = await run_cli("run", cwd=tmp_path, env=env, stdin="/quit\n")
    assert code == 2
    assert "DIFY_API_URL:" in err and "/v1 included" in err


async def test_check_reaches_dify_and_never_prints_the_key(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    env = {"DIFY_API_URL": fake_dify.url, "DIFY_API_KEY": "app-test"}
    code, out, _ = await run_cli("check", cwd=tmp_path, env=env)
    assert code == 0
    assert out.startswith("ok    dify (default): app 'Demo Assistant' (chat)")
    wrong = {"DIFY_API_URL": fake_dify.url, "DIFY_API_KEY": "app-wrong-key-0042"}
    code, out, err = await run_cli("check", cwd=tmp_path, env=wrong)
    assert code == 1
    assert out.startswith("FAIL  dify (default)")
    assert "app-wrong-key-0042" not in out + err


async def test_sigterm_exits_cleanly(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dify_bridge",
        "demo",
        cwd=tmp_path,
        env=CLEAN_ENV,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    await asyncio.wait_for(process.stdout.readuntil(b"you> "), 30)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
