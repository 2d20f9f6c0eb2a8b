"""Faults injected into real I/O: the bridge keeps serving, loses nothing, leaks nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from dify_bridge.core import notices
from dify_bridge.errors import StoreError
from dify_bridge.store.sqlite import SqliteStore
from tests.fakes.dify import FakeDify

from .support import RecordingSink, incoming, running_bridge
from .test_cli import CLEAN_ENV, run_cli

pytestmark = pytest.mark.reliability

DIFY_FAULTS: dict[str, Callable[[FakeDify], None]] = {
    "http 500": lambda f: f.fail_next(500, "internal_server_error", "boom"),
    "http 502": lambda f: f.fail_next(502, "bad_gateway", "bad gateway"),
    "http 503": lambda f: f.fail_next(503, "unavailable", "maintenance"),
    "429 rate_limit_error": lambda f: f.fail_next(429, "rate_limit_error", "quota"),
    "429 too_many_requests, always": lambda f: f.fail_next(
        429, "too_many_requests", "busy", times=4
    ),
    "400 provider quota": lambda f: f.fail_next(400, "provider_quota_exceeded", "quota"),
    "401 after key rotation": lambda f: f.api_keys.clear(),
    "mid-stream error": lambda f: f.script(["Half ", "an answer"], error_after=1),
    "TCP reset mid-stream": lambda f: f.script(["Half ", "an answer"], reset_after=1),
    "clean EOF mid-stream": lambda f: f.script(["Half ", "an answer"], end_after=1),
    "stalled stream": lambda f: f.script(["Half ", "an answer"], stall_after=1),
}

NOTICES = {
    "http 500": "unavailable right now",
    "http 502": "unavailable right now",
    "http 503": "unavailable right now",
    "429 rate_limit_error": "busy right now",
    "429 too_many_requests, always": "busy right now",
    "400 provider quota": "rejected this message",
    "401 after key rotation": "not reachable with its current key",
    "mid-stream error": "ran into an error",
    "TCP reset mid-stream": "answer was cut off",
    "clean EOF mid-stream": "answer was cut off",
    "stalled stream": "answer was cut off",
}


@pytest.mark.parametrize("fault", list(DIFY_FAULTS))
async def test_a_dify_fault_becomes_a_notice_and_other_threads_go_on(
    fault: str, fake_dify: FakeDify, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bridge(fake_dify.url, tmp_path / "b.db", DIFY_READ_TIMEOUT="0.5") as rt:
        DIFY_FAULTS[fault](fake_dify)
        hit = RecordingSink()
        await asyncio.wait_for(rt.bridge.handle_message(incoming("hit", "question"), hit), 30)
        assert NOTICES[fault] in hit.visible, hit.visible
        assert hit.visible.count("⚠️") == 1
        assert "Traceback" not in hit.visible and "app-test" not in hit.visible
        if "Half" in hit.visible:
            assert hit.visible.startswith("Half "), "text already shown is kept"
        fake_dify.api_keys.add("app-test")
        other = RecordingSink()
        await rt.bridge.handle_message(incoming("other", "still there?"), other)
        assert "still there?" in other.visible
    assert "app-test" not in caplog.text


async def test_busy_dify_is_retried_with_backoff_then_answers(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.fail_next(429, "too_many_requests", "busy", times=2, retry_after=0.1)
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t", "hi"), sink)
    assert "You said" in sink.visible
    assert len(fake_dify.chat_requests) == 3


async def test_connection_refused(tmp_path: Path) -> None:
    fake = FakeDify()
    url = await fake.start()
    await fake.stop()
    async with running_bridge(url, tmp_path / "b.db") as rt:
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t", "hi"), sink)
    assert sink.texts == ["⚠️ The assistant is unavailable right now. Please try again in a moment."]


@pytest.mark.parametrize(
    "events",
    [
        [{"raw": "data: {this is not json\n\n"}],
        [{"raw": 'data: {"event": "message"}\n\n'}],
        [{"raw": 'data: ["a", "list"]\n\n'}],
        [{"event": "a_future_event_kind", "payload": {"x": 1}}],
        [{"event": "message", "answer": None}],
    ],
    ids=["bad json", "missing fields", "not an object", "unknown event", "null answer"],
)
async def test_malformed_events_are_skipped(
    events: list[dict[str, object]], fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.script(["Fine ", "answer."], events=events)
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t", "hi"), sink)
    assert sink.visible == "Fine answer."


async def test_a_one_mebibyte_chunk_arrives_whole_and_split(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    chunk = ("lorem ipsum " * 90_000)[: 1024 * 1024]
    fake_dify.script([chunk])
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t", "hi"), sink)
    assert len(sink.messages) == 30, "a runaway answer is capped"
    assert sink.texts[-1].endswith("_(The answer was too long and has been cut here.)_")
    assert chunk.startswith("".join(sink.texts[:-1]))


async def test_unusual_characters_reach_dify_intact_except_nul(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    text = "héllo 👋🏽 שלום עולם \u200bzero\u200dwidth\x00nul"
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", text), RecordingSink())
    assert fake_dify.chat_requests[0]["query"] == text.replace("\x00", "")


async def test_store_read_only_or_locked_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    store = await SqliteStore.open(str(path))
    await store.close()
    path.chmod(0o400)
    if os.geteuid() != 0:  # root ignores file modes
        with pytest.raises(StoreError, match="database"):
            await SqliteStore.open(str(path))
    path.chmod(0o600)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            await SqliteStore.open(str(path), busy_timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def demo_answering(
    cwd: Path, env: dict[str, str], question: bytes
) -> asyncio.subprocess.Process:
    """A ``dify-bridge demo --dify`` process that is in the middle of answering ``question``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dify_bridge",
        "demo",
        "--dify",
        cwd=cwd,
        env=CLEAN_ENV | env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(question + b"\n")
    await process.stdin.drain()
    await asyncio.wait_for(process.stdout.readuntil(b"w3 "), 30)
    return process


async def test_sigkill_mid_turn_keeps_the_confirmed_mapping(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.script([f"w{i} " for i in range(400)], delay=0.02)
    env = {"DIFY_API_URL": fake_dify.url, "DIFY_API_KEY": "app-test"}
    process = await demo_answering(tmp_path, env, b"first question")
    process.send_signal(signal.SIGKILL)
    await process.wait()
    (conversation,) = fake_dify.conversations.values()
    for name in ("dify-bridge.db", "dify-bridge.db-wal", "dify-bridge.db-shm"):
        path = tmp_path / name
        assert not path.exists() or stat.S_IMODE(path.stat().st_mode) == 0o600, name
    code, out, _ = await run_cli("demo", "--dify", cwd=tmp_path, env=env, stdin="second question\n")
    assert code == 0
    assert fake_dify.chat_requests[-1]["conversation_id"] == conversation.id
    assert "Earlier you asked: _first question_" in out


async def test_sigterm_lets_answers_finish_or_marks_them_interrupted(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    fake_dify.script([f"w{i} " for i in range(400)], delay=0.02)
    env = {
        "DIFY_API_URL": fake_dify.url,
        "DIFY_API_KEY": "app-test",
        "SHUTDOWN_GRACE_SECONDS": "0.5",
    }
    process = await demo_answering(tmp_path, env, b"long one")
    assert process.stdout is not None
    process.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(process.stdout.read(), 30)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert b"Interrupted: the bridge is restarting" in rest


def test_json_logs_carry_no_secrets(tmp_path: Path) -> None:
    import logging

    from dify_bridge.ops.logs import RedactingFormatter

    formatter = RedactingFormatter(["xoxb-top-secret"], as_json=True)
    record = logging.makeLogRecord(
        {"msg": "calling with %s", "args": ("xoxb-top-secret",), "thread_key": "slack:T:C:1"}
    )
    line = json.loads(formatter.format(record))
    assert line["message"] == "calling with ***"
    assert line["thread_key"] == "slack:T:C:1"


async def test_a_store_failure_while_claiming_becomes_a_notice(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    path = tmp_path / "b.db"
    async with running_bridge(fake_dify.url, path) as rt:
        broken = sqlite3.connect(path)
        broken.execute("DROP TABLE events")  # the next claim fails inside SQLite
        broken.commit()
        broken.close()
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t", "hi", event="ev-1"), sink)
    assert sink.texts == [notices.UNEXPECTED]
    assert fake_dify.chat_requests == []
