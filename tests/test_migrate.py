"""``dify-bridge migrate``: moving a deployment from SQLite to PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dify_bridge.cli import main
from dify_bridge.core.types import MessageRecord, ThreadRecord
from dify_bridge.store import open_store
from dify_bridge.store.migrate import copy_store
from tests.fakes.dify import FakeDify

from .support import RecordingSink, incoming, running_bridge

THREADS = [ThreadRecord(f"slack:T1:C1:{n}.0", f"conv-{n}", f"slack:T1:C1:{n}.0") for n in range(3)]
MESSAGES = [
    MessageRecord(f"slack:C1:{n}.5", f"msg-{n}", t.dify_user, t.thread_key)
    for n, t in enumerate(THREADS)
]


async def fill(url: str) -> None:
    store = await open_store(url)
    try:
        for thread in THREADS:
            await store.save_thread(thread)
        await store.save_messages(MESSAGES)
    finally:
        await store.close()


async def contents(url: str) -> tuple[list[ThreadRecord | None], list[MessageRecord | None]]:
    store = await open_store(url)
    try:
        threads = [await store.get_thread(t.thread_key) for t in THREADS]
        messages = [await store.get_message(m.message_key) for m in MESSAGES]
    finally:
        await store.close()
    return threads, messages


def test_migrate_copies_threads_and_answers_and_can_run_again(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"sqlite:///{tmp_path / 'old.db'}"
    asyncio.run(fill(source))

    assert main(["migrate", "--from", source, "--to", postgres_url]) == 0
    first = capsys.readouterr().out
    assert "copied 3 of 3 threads and 3 of 3 answer messages" in first
    assert asyncio.run(contents(postgres_url)) == (THREADS, MESSAGES)

    assert main(["migrate", "--from", source, "--to", postgres_url]) == 0
    assert "copied 0 of 3 threads and 0 of 3 answer messages" in capsys.readouterr().out
    assert asyncio.run(contents(postgres_url)) == (THREADS, MESSAGES)


def test_migrate_keeps_what_the_target_already_has(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"sqlite:///{tmp_path / 'old.db'}"
    asyncio.run(fill(source))
    remapped = ThreadRecord(THREADS[0].thread_key, "conv-newer", THREADS[0].dify_user)

    async def remap() -> None:
        store = await open_store(postgres_url)
        await store.save_thread(remapped)
        await store.close()

    asyncio.run(remap())
    assert main(["migrate", "--from", source, "--to", postgres_url]) == 0
    assert "copied 2 of 3 threads" in capsys.readouterr().out
    threads, _ = asyncio.run(contents(postgres_url))
    assert threads == [remapped, *THREADS[1:]]


def test_migrate_works_back_to_sqlite(tmp_path: Path, postgres_url: str) -> None:
    asyncio.run(fill(postgres_url))
    target = f"sqlite:///{tmp_path / 'back.db'}"
    assert main(["migrate", "--from", postgres_url, "--to", target]) == 0
    assert asyncio.run(contents(target)) == (THREADS, MESSAGES)


def test_migrate_from_a_missing_file_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    code = main(
        ["migrate", "--from", f"sqlite:///{missing}", "--to", f"sqlite:///{tmp_path / 'new.db'}"]
    )
    assert code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "typo.db" in error and "does not exist" in error
    assert not missing.exists()


def test_migrate_never_prints_the_password(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"sqlite:///{tmp_path / 'old.db'}"
    asyncio.run(fill(source))
    with_password = postgres_url.replace("bridge@", "bridge:s3cret@")
    assert main(["migrate", "--from", source, "--to", with_password]) == 0
    bad = with_password.replace("/test_", "/missing_")
    assert main(["migrate", "--from", source, "--to", bad]) == 1
    out, err = capsys.readouterr()
    assert "s3cret" not in out + err
    assert "bridge:***@" in out and "bridge:***@" in err


async def test_conversations_continue_after_moving_to_postgres(
    fake_dify: FakeDify, tmp_path: Path, postgres_url: str
) -> None:
    old = tmp_path / "old.db"
    async with running_bridge(fake_dify.url, old) as rt:
        await rt.bridge.handle_message(incoming("t1", "before the move"), RecordingSink())
    report = await copy_store(f"sqlite:///{old}", postgres_url)
    assert (report.new_threads, report.threads) == (1, 1)
    async with running_bridge(fake_dify.url, postgres_url) as rt:
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t1", "after the move"), sink)
    before, after = fake_dify.chat_requests
    assert after["conversation_id"] != "" and after["user"] == before["user"]
    assert "Earlier you asked: _before the move_" in sink.visible
