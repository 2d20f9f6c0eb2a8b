"""Two replicas on one workspace under Slack's tiers at real time, beside one process.

30 mentions arrive at once, one per channel, each answer 100 chunks 0.1 s
apart (10 s, distinct words), into real ``dify-bridge run`` processes in
Slack HTTP mode on one PostgreSQL, the fake Slack's per-method tiers on at
``time_scale=1.0`` (``tests.fakes.slack_ai.SLACK_TIERS``) and the tests' fake
Dify; default settings (``SLACK_STREAMING=auto``, ``SLACK_EDITS_PER_MINUTE``
45). Two runs: one process taking all 30, and two replicas taking 15 each
(the mentions alternate), their budgets shared through the store's
heartbeats. Measured: the 429s the fake answered (per method), and the
seconds from the mentions to the last answer's end (hourglass off).

``.venv/bin/python -m bench --only replica_tiers --database-url postgresql://...``
writes ``bench/results/replica_tiers.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_ai import SLACK_TIERS
from tests.test_replicas_slack import Replica, start_replica

from bench.common import ROOT

RESULTS = ROOT / "bench" / "results" / "replica_tiers.md"
READING = RESULTS.with_name("replica_tiers_notes.md")
"""Hand-written reading of the numbers, appended to the results (kept across runs)."""
ANSWERS = 30
CHUNKS = 100


@contextlib.asynccontextmanager
async def replicas(
    count: int, slack: FakeSlack, dify: FakeDify, database_url: str, cwd: Path
) -> AsyncIterator[list[Replica]]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "DIFY_", "DATABASE_URL"))
    }
    env = inherited | {
        "DIFY_API_URL": dify.url,
        "DIFY_API_KEY": "app-test",
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "HOST": "127.0.0.1",
        "PORT": "0",
        "LOG_LEVEL": "INFO",
    }
    started: list[Replica] = []
    try:
        for _ in range(count):
            started.append(await start_replica(env, cwd))
        if count > 1:  # every replica has seen the others' heartbeats
            line = f"live replicas: {count}"
            for _ in range(300):
                if all(any(line in entry for entry in r.log) for r in started):
                    break
                await asyncio.sleep(0.1)
        yield started
    finally:
        for replica in started:
            await replica.stop()


async def one_run(count: int, database_url: str) -> dict[str, Any]:
    slack = FakeSlack()
    await slack.start()
    slack.use_tiers(SLACK_TIERS, time_scale=1.0)
    dify = FakeDify(host="127.0.0.1", port=0)
    await dify.start()
    try:
        with tempfile.TemporaryDirectory() as cwd:
            async with replicas(count, slack, dify, database_url, Path(cwd)) as running:
                for n in range(ANSWERS):
                    dify.script([f"a{n}-{i} " for i in range(CHUNKS)], delay=0.1)
                mentions = [
                    slack.user_message(f"C{n:04d}", f"q{n}", mention=True, event_type="app_mention")
                    for n in range(ANSWERS)
                ]
                started = time.monotonic()
                for n, mention in enumerate(mentions):
                    url = running[n % count].events_url
                    status, _ = await slack.post_event(url, slack.event_callback(mention))
                    assert status == 200

                def ended() -> bool:
                    done = {
                        (c.args.get("channel"), c.args.get("timestamp"))
                        for c in slack.calls_to("reactions.remove")
                        if c.ok
                    }
                    return all((m["channel"], m["ts"]) in done for m in mentions)

                await slack.wait_until(ended, within=600)
                last_final = time.monotonic() - started
        limited = Counter(c.method for c in slack.calls if c.status == 429)
        accepted = Counter(c.method for c in slack.calls if c.ok)
        return {
            "replicas": count,
            "last_final_s": round(last_final, 1),
            "rate_limited": sum(limited.values()),
            "per_method": dict(limited),
            "updates": accepted.get("chat.update", 0),
            "streams": accepted.get("chat.startStream", 0),
        }
    finally:
        await dify.stop()
        await slack.close()


async def fresh_database(database_url: str, name: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    base, _, query = database_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}"
    return f"{url}?{query}" if query else url


async def measure(database_url: str) -> list[dict[str, Any]]:
    runs = []
    for count in (1, 2):
        url = await fresh_database(database_url, f"bench_replica_tiers_{count}")
        runs.append(await one_run(count, url))
        print(f"  {count} replica(s): {runs[-1]}", flush=True)
    return runs


def report(runs: list[dict[str, Any]], machine: dict[str, str]) -> str:
    def per_method(run: dict[str, Any]) -> str:
        return ", ".join(f"{m} {n}" for m, n in sorted(run["per_method"].items())) or "none"

    one, two = runs
    rows = [
        ("429 responses", one["rate_limited"], two["rate_limited"]),
        ("429s per method", per_method(one), per_method(two)),
        ("last answer final after", f"{one['last_final_s']} s", f"{two['last_final_s']} s"),
        ("accepted chat.update calls", one["updates"], two["updates"]),
        ("answers started as streams", one["streams"], two["streams"]),
    ]
    lines = [
        "# Two replicas on one workspace under Slack's tiers, at real time",
        "",
        f"{machine.get('date', '')} · {machine.get('cores', '')} cores · "
        f"Python {machine.get('python', '')} · commit {machine.get('commit', '')}",
        "",
        "`.venv/bin/python -m bench --only replica_tiers --database-url postgresql://...` "
        f"(bench.replica_tiers): {ANSWERS} mentions at once, one per channel, each answer "
        f"{CHUNKS} chunks over 10 s from the tests' fake Dify, into real `dify-bridge run` "
        "processes (Slack HTTP mode) on one PostgreSQL; the fake Slack's per-method tiers "
        "(chat.update 50 / 60 s and 10 / 6 s for the workspace) at `time_scale=1.0`; "
        "default settings (`SLACK_STREAMING=auto`, `SLACK_EDITS_PER_MINUTE` 45).",
        "",
        "| measure | one process, 30 answers | two replicas, 15 answers each |",
        "|---|---|---|",
        *(f"| {name} | {a} | {b} |" for name, a, b in rows),
        "",
        "Each replica runs at its share of every budget (its live answers plus half, "
        "over everyone's), re-rated at every 2 s heartbeat, and a 429 one replica sees "
        "pauses the method on both.",
        "",
    ]
    if READING.exists():
        lines += [READING.read_text()]
    return "\n".join(lines)
