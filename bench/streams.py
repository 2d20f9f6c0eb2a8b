"""Streaming turns against the fake Dify, read by the bridge or by a bare SSE reader.

``python -m bench.streams --dify-url URL --mode bridge --streams 1000 --chunks 200``

- ``--mode raw``: httpx + httpx-sse read the stream and ``json.loads`` each
  event: the floor any Dify client pays.
- ``--mode bridge``: the real runtime (pooled Dify client, SQLite store,
  bridge, reply writer) answers each turn into a :class:`TimingSink`.

``--streams 1`` with ``--turns N`` runs N turns one after another (added
latency); ``--streams N`` runs N turns at once (concurrency). Prints one JSON
line: per-turn first-text latencies, wall and CPU time, peak RSS, text lost.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import logging
import pstats
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from httpx_sse import aconnect_sse

from bench.common import TimingSink, own_cpu_seconds, peak_rss_mb, print_json, stamp_of
from bench.fake_dify import expected_answer
from dify_bridge.config import parse_settings
from dify_bridge.core.types import Incoming
from dify_bridge.dify.client import make_http_client
from dify_bridge.ops.runtime import open_runtime

WARMUP_TURNS = 10


def answer_ok(text: str, chunks: int) -> bool:
    """True if ``text`` is the whole answer: stamp, first chunk, the rest in order."""
    found = re.match(r"s\d+ w0 ", text)
    return found is not None and text[found.end() :] == expected_answer(chunks)


async def raw_turn(client: Any, url: str, n: int) -> tuple[float | None, str]:
    """Read one answer with nothing but httpx-sse; return (first-text latency ms, text)."""
    body = {
        "query": f"question {n}",
        "inputs": {},
        "user": f"bench:{n}",
        "response_mode": "streaming",
        "conversation_id": "",
        "auto_generate_name": True,
    }
    latency = None
    text = ""
    async with aconnect_sse(
        client, "POST", f"{url}/chat-messages", json=body, headers={"Authorization": "Bearer k"}
    ) as source:
        async for sse in source.aiter_sse():
            if not sse.data:
                continue
            payload = json.loads(sse.data)
            if payload.get("event") == "message":
                if latency is None:
                    stamp = stamp_of(payload["answer"])
                    if stamp is not None:
                        latency = (time.monotonic_ns() - stamp) / 1e6
                text += payload["answer"]
    return latency, text


def incoming(n: int) -> Incoming:
    return Incoming(
        platform="bench",
        thread_key=f"bench:{n}",
        text=f"question {n}",
        user_id="U1",
        event_keys=(f"bench-event-{n}",),
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    latencies: list[float] = []
    texts: list[str] = []
    total = args.streams if args.streams > 1 else args.turns
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            "DIFY_API_URL": args.dify_url,
            "DIFY_API_KEY": "app-bench",
            "DATABASE_URL": f"sqlite:///{Path(scratch) / 'bench.db'}",
        }
        if args.mode == "raw":
            client = make_http_client()

            async def turn(n: int) -> None:
                latency, text = await raw_turn(client, args.dify_url, n)
                if n >= 0 and latency is not None:
                    latencies.append(latency)
                texts.append(text)

            closer = client.aclose
        else:
            runtime_cm = open_runtime(parse_settings(env))
            runtime = await runtime_cm.__aenter__()

            async def turn(n: int) -> None:
                sink = TimingSink(min_edit_interval=args.edit_interval)
                await runtime.bridge.handle_message(incoming(n), sink)
                if n >= 0 and sink.latency_ms is not None:
                    latencies.append(sink.latency_ms)
                texts.append(sink.visible)

            async def closer() -> None:
                await runtime_cm.__aexit__(None, None, None)

        try:
            if args.streams == 1:
                for n in range(-WARMUP_TURNS, 0):
                    await turn(n)
            texts.clear()
            rss_before = peak_rss_mb()
            cpu_before, wall_before = own_cpu_seconds(), time.perf_counter()
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            if args.streams == 1:
                for n in range(total):
                    await turn(n)
            else:
                async with asyncio.timeout(args.timeout):
                    await asyncio.gather(*(turn(n) for n in range(total)))
            if profiler is not None:
                profiler.disable()
            wall = time.perf_counter() - wall_before
            cpu = own_cpu_seconds() - cpu_before
        finally:
            await closer()
    if profiler is not None:
        write_profile(profiler, args.profile)
    lost = sum(1 for text in texts if not answer_ok(text, args.chunks))
    lost_chars = sum(
        max(0, len(expected_answer(args.chunks)) - len(re.sub(r"^s\d+ w0 ", "", t))) for t in texts
    )
    return {
        "mode": args.mode,
        "streams": args.streams,
        "turns": total,
        "chunks": args.chunks,
        "latencies_ms": latencies,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_per_1000_chunks_s": cpu / (total * args.chunks / 1000),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "answers": len(texts),
        "answers_lost": lost + (total - len(texts)),
        "chars_lost": lost_chars,
    }


def write_profile(profiler: cProfile.Profile, path: str) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    Path(path).write_text(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dify-url", required=True)
    parser.add_argument("--mode", choices=("raw", "bridge"), required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--edit-interval", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--profile", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print_json(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
