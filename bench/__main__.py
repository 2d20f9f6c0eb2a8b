"""Run the benchmarks and write ``bench/results/latest.md``.

``.venv/bin/python -m bench`` runs everything (about ten minutes on two
cores); ``--only latency,concurrency,budget,store,fake,rss`` picks parts
(``slack_tiers``, about four minutes, runs only when named and writes
``bench/results/slack_tiers.md``; ``replica_tiers``, two replicas on PostgreSQL,
likewise, into ``bench/results/replica_tiers.md``),
``--quick`` shrinks every size for a smoke run, ``--profile`` also writes a
cProfile of the bridge under the largest concurrency run. Postgres is
measured too when ``--database-url postgresql://...`` (or a ``DATABASE_URL``
naming Postgres) is given. Every server is a local fake on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, fake_dify_process, percentile
from bench.report import Report

RESULTS = ROOT / "bench" / "results"
PARTS = ("latency", "concurrency", "budget", "store", "fake", "rss")
EXTRA_PARTS = ("slack_tiers", "replica_tiers")
"""Parts run only when ``--only`` names them (slow: Slack's tiers at real time)."""


def worker(module: str, *args: str, timeout: float = 600) -> dict[str, Any]:
    """Run one measurement in a fresh process; return its JSON result."""
    command = [sys.executable, "-m", module, *args]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def latency(report: Report, turns: int) -> None:
    rows = []
    with fake_dify_process(chunks=5, interval=0.01) as dify:
        url = f"--dify-url={dify.url}"
        runs = [
            ("httpx-sse reader (floor)", "bench.streams", ["--mode=raw"]),
            ("bridge → in-memory sink", "bench.streams", ["--mode=bridge"]),
            (
                "httpx-sse reader + chat.postMessage (floor)",
                "bench.slack_e2e",
                ["latency", "--mode=raw"],
            ),
            ("Slack HTTP mode end to end", "bench.slack_e2e", ["latency", "--mode=bridge"]),
        ]
        for name, module, args in runs:
            extra = ["--chunks=5"] if module == "bench.streams" else []
            result = worker(module, url, f"--turns={turns}", *args, *extra)
            values = result["latencies_ms"]
            rows.append((name, len(values), percentile(values, 50), percentile(values, 99)))
    report.latency(rows)


def concurrency(report: Report, sizes: list[int], chunks: int, profile: bool) -> None:
    rows = []
    for streams in sizes:
        pair = {}
        for mode in ("raw", "bridge"):
            with fake_dify_process(chunks=chunks, interval=0.025) as dify:
                args = [f"--dify-url={dify.url}", f"--mode={mode}", f"--streams={streams}"]
                args.append(f"--chunks={chunks}")
                cpu_before = dify.cpu_seconds()
                result = worker("bench.streams", *args)
                result["fake_cpu_s"] = dify.cpu_seconds() - cpu_before
            pair[mode] = result
        rows.append(pair)
        print(
            f"  {streams} streams: raw {pair['raw']['wall_s']:.1f} s, "
            f"bridge {pair['bridge']['wall_s']:.1f} s",
            flush=True,
        )
    report.concurrency(rows)
    if profile:
        # a separate run: cProfile slows the bridge down, so it stays out of the table
        with fake_dify_process(chunks=chunks, interval=0.025) as dify:
            worker(
                "bench.streams",
                f"--dify-url={dify.url}",
                "--mode=bridge",
                f"--streams={sizes[-1]}",
                f"--chunks={chunks}",
                f"--profile={RESULTS / 'profile-bridge.txt'}",
            )


def budget(report: Report, streams: int, chunks: int, interval: float) -> None:
    with fake_dify_process(chunks=chunks, interval=interval) as dify:
        result = worker(
            "bench.slack_e2e",
            "budget",
            f"--dify-url={dify.url}",
            f"--streams={streams}",
            f"--chunks={chunks}",
        )
    result["answer_seconds"] = chunks * interval
    report.budget(result)


def store(report: Report, threads: int, ops: int, database_url: str) -> None:
    results = [worker("bench.store", f"--threads={threads}", f"--ops={ops}")]
    if database_url.startswith("postgres"):
        results.append(
            worker(
                "bench.store",
                f"--threads={threads}",
                f"--ops={ops}",
                f"--database-url={database_url}",
            )
        )
    report.store(results)


def fake(report: Report, streams: int, chunks: int) -> None:
    rows = []
    for kind in ("lean", "faithful"):
        with fake_dify_process(chunks=chunks, interval=0.025, kind=kind) as dify:
            before = dify.cpu_seconds()
            result = worker(
                "bench.streams",
                f"--dify-url={dify.url}",
                "--mode=raw",
                f"--streams={streams}",
                f"--chunks={chunks}",
            )
            cpu = dify.cpu_seconds() - before
        rows.append((kind, cpu / (streams * chunks / 1000), result["wall_s"]))
    report.fakes(rows, streams, chunks)


def rss(report: Report, settle: float) -> None:
    report.idle_rss(worker("bench.idle_rss", f"--settle={settle}"))


def slack_tiers(report: Report, streams: int, chunks: int) -> None:
    from bench import slack_tiers as tiers

    runs = {}
    for mode in ("auto", "edits"):
        runs[mode] = worker(
            "bench.slack_tiers",
            f"--streaming={mode}",
            f"--streams={streams}",
            f"--chunks={chunks}",
            timeout=900,
        )
        print(f"  {mode}: all final after {runs[mode]['all_final_s']} s", flush=True)
    table = tiers.table(runs["auto"], runs["edits"])
    report.sections.append(
        (f"Slack tiers at real time: {streams} answers of {chunks} chunks over 10 s", table)
    )
    tiers.write(runs, report.machine)


def replica_tiers(report: Report, database_url: str) -> None:
    import asyncio

    from bench import replica_tiers as replicas

    if not database_url.startswith(("postgresql://", "postgres://")):
        raise SystemExit("replica_tiers needs --database-url postgresql://... (replicas share it)")
    runs = asyncio.run(replicas.measure(database_url))
    text = replicas.report(runs, report.machine)
    replicas.RESULTS.write_text(text)
    table = "\n".join(line for line in text.splitlines() if line.startswith("|"))
    report.sections.append(("Two replicas on one workspace under Slack's tiers", table))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--output", default=str(RESULTS / "latest.md"))
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS) - set(EXTRA_PARTS)
    if unknown:
        choices = ", ".join(PARTS + EXTRA_PARTS)
        parser.error(f"unknown parts {sorted(unknown)}; choose from {choices}")
    RESULTS.mkdir(exist_ok=True)
    report = Report(machine())
    started = time.monotonic()
    quick = args.quick
    for part in parts:
        print(f"== {part}", flush=True)
        if part == "latency":
            latency(report, 50 if quick else 300)
        elif part == "concurrency":
            concurrency(report, [50, 100] if quick else [100, 500, 1000], 200, args.profile)
        elif part == "budget":
            budget(report, 10 if quick else 50, 100 if quick else 200, 0.05 if quick else 0.15)
        elif part == "store":
            store(
                report, 20_000 if quick else 100_000, 2_000 if quick else 10_000, args.database_url
            )
        elif part == "fake":
            fake(report, 50 if quick else 200, 200)
        elif part == "rss":
            rss(report, 1.0 if quick else 5.0)
        elif part == "slack_tiers":
            slack_tiers(report, 10 if quick else 50, 30 if quick else 100)
        elif part == "replica_tiers":
            replica_tiers(report, args.database_url)
        print(report.last_table(), flush=True)
    report.write(args.output, time.monotonic() - started)
    print(f"written to {os.path.relpath(args.output)}")


def machine() -> dict[str, str]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit or "?",
    }


if __name__ == "__main__":
    main()
