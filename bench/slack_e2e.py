"""Slack in HTTP mode end to end: signed Events API requests in, Web API calls out.

The real Slack adapter (slack-bolt on aiohttp, slack-sdk's web client) runs
against the fake Slack of ``tests/fakes/slack`` (in this process) and the
bench fake Dify (another process).

``latency``: one mention at a time, each a new thread; the time from the fake
Dify writing the first chunk to ``chat.postMessage`` arriving at the fake
Slack. ``--mode raw`` is the floor: httpx-sse reads the first event and an
aiohttp session posts it to ``chat.postMessage`` at once.

``budget``: ``--streams`` mentions at once with the fake Slack's Tier-3
limiter on ``chat.update`` (50 a minute, rolling window); every
``chat.update`` and 429 is counted and each thread's final text checked.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import logging
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
from httpx_sse import aconnect_sse
from tests.fakes.slack import FakeSlack

from bench.common import own_cpu_seconds, peak_rss_mb, print_json, stamp_of
from bench.fake_dify import expected_answer
from dify_bridge.adapters.slack.app import SlackAdapter
from dify_bridge.adapters.slack.sink import THINKING_REACTION
from dify_bridge.config import parse_settings
from dify_bridge.dify.client import make_http_client
from dify_bridge.ops.runtime import open_runtime

WARMUP_TURNS = 10
TIER3_PER_MINUTE = 50


def answered(slack: FakeSlack, channel: str, ts: str) -> bool:
    return any(
        c.args.get("timestamp") == ts
        and c.args.get("channel") == channel
        and c.args.get("name") == THINKING_REACTION
        for c in slack.calls_to("reactions.remove")
    )


def first_post(slack: FakeSlack, channel: str, thread_ts: str) -> Any:
    for call in slack.calls_to("chat.postMessage"):
        if call.args.get("channel") == channel and call.args.get("thread_ts") == thread_ts:
            return call
    return None


async def bridge_latency(args: argparse.Namespace, slack: FakeSlack, env: dict[str, str]) -> Any:
    settings = parse_settings(env | {"SLACK_EDITS_PER_MINUTE": "100000"})
    assert settings.slack is not None
    latencies: list[float] = []
    async with open_runtime(settings) as runtime:
        adapter = SlackAdapter(settings.slack, runtime.bridge)
        await adapter.start()
        url = f"http://127.0.0.1:{adapter.port}/slack/events"
        try:
            for n in range(-WARMUP_TURNS, args.turns):
                channel = f"C{n % 10}"
                event = slack.user_message(
                    channel, f"question {n}", mention=True, event_type="app_mention"
                )
                status, text = await slack.post_event(url, slack.event_callback(event))
                assert status == 200, f"the app answered {status} {text!r}"
                done = functools.partial(answered, slack, channel, event["ts"])
                await slack.wait_until(done, within=10)
                call = first_post(slack, channel, event["ts"])
                stamp = stamp_of(call.args["text"]) if call is not None else None
                if n >= 0 and stamp is not None:
                    latencies.append((call.at * 1e9 - stamp) / 1e6)
        finally:
            await runtime.bridge.shutdown(5)
            await adapter.stop()
    return latencies


async def raw_latency(args: argparse.Namespace, slack: FakeSlack) -> list[float]:
    """The floor: read the first event, post it to chat.postMessage, nothing else."""
    latencies: list[float] = []
    client = make_http_client()
    headers = {"Authorization": f"Bearer {slack.bot_token}"}
    async with aiohttp.ClientSession() as session:
        for n in range(-WARMUP_TURNS, args.turns):
            first = await first_event_text(client, args.dify_url, n)
            async with session.post(
                f"{slack.api_url}chat.postMessage",
                json={"channel": "C1", "text": first},
                headers=headers,
            ) as response:
                await response.read()
            call = slack.calls_to("chat.postMessage")[-1]
            stamp = stamp_of(call.args["text"])
            if n >= 0 and stamp is not None:
                latencies.append((call.at * 1e9 - stamp) / 1e6)
            await asyncio.sleep(args.chunks * 0.01)
    await client.aclose()
    return latencies


async def first_event_text(client: Any, url: str, n: int) -> str:
    """Start reading a stream; return its first text while the rest is read on."""
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        body = {"query": f"q{n}", "inputs": {}, "user": f"bench:{n}", "response_mode": "streaming"}
        async with aconnect_sse(
            client, "POST", f"{url}/chat-messages", json=body, headers={"Authorization": "Bearer k"}
        ) as source:
            async for sse in source.aiter_sse():
                if sse.data and not found.done():
                    found.set_result(json.loads(sse.data)["answer"])

    reader = asyncio.create_task(read())
    _background.add(reader)
    reader.add_done_callback(_background.discard)
    return await found


_background: set[asyncio.Task[None]] = set()


async def budget(args: argparse.Namespace, slack: FakeSlack, env: dict[str, str]) -> dict[str, Any]:
    slack.rate_limit("chat.update", calls=TIER3_PER_MINUTE, window=60.0)
    settings = parse_settings(env)
    assert settings.slack is not None
    async with open_runtime(settings) as runtime:
        adapter = SlackAdapter(settings.slack, runtime.bridge)
        await adapter.start()
        url = f"http://127.0.0.1:{adapter.port}/slack/events"
        try:
            events = [
                slack.user_message(f"C{n}", f"question {n}", mention=True, event_type="app_mention")
                for n in range(args.streams)
            ]
            started = time.monotonic()
            cpu_before = own_cpu_seconds()
            statuses = await asyncio.gather(
                *(slack.post_event(url, slack.event_callback(e)) for e in events)
            )
            assert all(status == 200 for status, _ in statuses), statuses
            await slack.wait_until(
                lambda: all(answered(slack, e["channel"], e["ts"]) for e in events),
                within=args.timeout,
            )
            ended = time.monotonic()
            cpu = own_cpu_seconds() - cpu_before
        finally:
            await runtime.bridge.shutdown(5)
            await adapter.stop()
    updates = [c for c in slack.calls_to("chat.update") if c.at >= started]
    ok_updates = [c for c in updates if c.ok]
    refused = [c for c in updates if c.status == 429]
    stamps = sorted(c.at for c in updates)
    busiest = max(
        (sum(1 for t in stamps[i:] if t < s + 60.0) for i, s in enumerate(stamps)), default=0
    )
    shown_at: dict[tuple[str, str], list[float]] = defaultdict(list)
    for call in slack.calls_to("chat.postMessage"):
        if call.ok and call.at >= started:
            shown_at[(call.args["channel"], str(call.args.get("thread_ts")))].append(call.at)
    thread_of = {
        (m.channel, m.ts): (m.channel, str(m.thread_ts))
        for m in slack.messages.values()
        if m.user == slack.bot_user_id
    }
    for call in ok_updates:
        shown_at[thread_of[(call.args["channel"], call.args["ts"])]].append(call.at)
    medians = []
    for times in shown_at.values():
        times.sort()
        gaps = [b - a for a, b in itertools.pairwise(times)]
        if gaps:
            medians.append(statistics.median(gaps))
    expected = expected_answer(args.chunks).strip()
    lost = 0
    for event in events:
        text = "".join(slack.thread_texts(event["channel"], event["ts"]))
        if not text.strip().endswith(expected):
            lost += 1
    duration = ended - started
    return {
        "streams": args.streams,
        "duration_s": duration,
        "cpu_s": cpu,
        "updates": len(updates),
        "updates_ok": len(ok_updates),
        "updates_per_minute": len(updates) / duration * 60,
        "busiest_minute": busiest,
        "tier3_per_minute": TIER3_PER_MINUTE,
        "responses_429": len(refused),
        "median_update_interval_s": statistics.median(medians) if medians else None,
        "p90_update_interval_s": sorted(medians)[int(0.9 * (len(medians) - 1))]
        if medians
        else None,
        "answers_lost": lost,
        "peak_rss_mb": peak_rss_mb(),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    slack = FakeSlack()
    await slack.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            env = {
                "DIFY_API_URL": args.dify_url,
                "DIFY_API_KEY": "app-bench",
                "DATABASE_URL": f"sqlite:///{Path(scratch) / 'bench.db'}",
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": slack.signing_secret,
                "SLACK_API_URL": slack.api_url,
                "HOST": "127.0.0.1",
                "PORT": "0",
            }
            if args.scenario == "budget":
                return await budget(args, slack, env)
            if args.mode == "raw":
                latencies = await raw_latency(args, slack)
            else:
                latencies = await bridge_latency(args, slack, env)
            return {"mode": args.mode, "turns": args.turns, "latencies_ms": latencies}
    finally:
        await slack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=("latency", "budget"))
    parser.add_argument("--dify-url", required=True)
    parser.add_argument("--mode", choices=("raw", "bridge"), default="bridge")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print_json(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
