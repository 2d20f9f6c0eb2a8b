"""Markdown tables of the benchmark results, printed and written to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import percentile


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:.2f} ms"


class Report:
    def __init__(self, machine: dict[str, str]) -> None:
        self.machine = machine
        self.sections: list[tuple[str, str]] = []

    def last_table(self) -> str:
        return self.sections[-1][1] if self.sections else ""

    def latency(self, rows: list[tuple[str, int, float, float]]) -> None:
        floors = {"in-memory": rows[0], "Slack": rows[2]}
        out = []
        for name, turns, p50, p99 in rows:
            floor = floors["Slack"] if "Slack" in name else floors["in-memory"]
            added = "" if floor[0] == name else f"+{p50 - floor[2]:.2f} / +{p99 - floor[3]:.2f}"
            out.append([name, str(turns), _ms(p50), _ms(p99), added or "(floor)"])
        self.sections.append(
            (
                "Added latency: first chunk written by Dify → first text on the platform",
                _table(["path", "turns", "p50", "p99", "over the floor p50 / p99 (ms)"], out),
            )
        )

    def concurrency(self, rows: list[dict[str, dict[str, Any]]]) -> None:
        out = []
        for pair in rows:
            raw, bridge = pair["raw"], pair["bridge"]
            for name, r in (("httpx-sse reader", raw), ("bridge", bridge)):
                ratio = r["wall_s"] / raw["wall_s"]
                lat = r["latencies_ms"]
                out.append(
                    [
                        str(r["streams"]),
                        name,
                        f"{r['wall_s']:.2f} s",
                        f"{ratio:.2f}x",
                        f"{r['cpu_per_1000_chunks_s']:.3f} s",
                        f"{percentile(lat, 50):.0f} / {percentile(lat, 99):.0f} ms",
                        f"{r['peak_rss_mb']:.0f} MB",
                        f"{r['answers_lost']} ({r['chars_lost']} chars)",
                    ]
                )
        chunks = rows[0]["raw"]["chunks"] if rows else 0
        self.sections.append(
            (
                f"Concurrency: simultaneous answers of {chunks} chunks, 25 ms apart "
                "(5 s each at best), fake Dify in its own process",
                _table(
                    [
                        "streams",
                        "reader",
                        "wall",
                        "vs reader",
                        "CPU per 1,000 chunks",
                        "first text p50 / p99",
                        "peak RSS",
                        "answers lost",
                    ],
                    out,
                ),
            )
        )

    def budget(self, r: dict[str, Any]) -> None:
        rows = [
            ["answers at once", str(r["streams"])],
            ["answer length", f"200 chunks over {r['answer_seconds']:.0f} s"],
            ["all answers final after", f"{r['duration_s']:.1f} s"],
            ["chat.update calls", f"{r['updates']} ({r['updates_ok']} accepted)"],
            ["chat.update per minute (average)", f"{r['updates_per_minute']:.1f}"],
            ["chat.update in the busiest 60 s", f"{r['busiest_minute']} (Tier 3: 50)"],
            ["429 responses", str(r["responses_429"])],
            [
                "median interval between visible updates per answer",
                _seconds(r["median_update_interval_s"]),
            ],
            ["90th percentile of those medians", _seconds(r["p90_update_interval_s"])],
            ["answers with text lost", str(r["answers_lost"])],
            ["bridge CPU for the whole run", f"{r['cpu_s']:.1f} s"],
        ]
        self.sections.append(
            (
                "Platform budget: concurrent Slack answers, fake Slack's Tier-3 limiter on",
                _table(["measure", "value"], rows),
            )
        )

    def store(self, results: list[dict[str, Any]]) -> None:
        out = []
        for r in results:
            if "error" in r:
                out.append([r["backend"], "-", r["error"], "", "", ""])
                continue
            for m in r["mixed"]:
                out.append(
                    [
                        r["backend"],
                        f"lookup+upsert, {m['workers']} caller(s)",
                        f"{m['ops_per_s']:,.0f}",
                        f"{m['lookup_p50_ms']:.2f} / {m['lookup_p99_ms']:.2f} ms",
                        f"{m['upsert_p50_ms']:.2f} / {m['upsert_p99_ms']:.2f} ms",
                    ]
                )
            for c in r["claims"]:
                out.append(
                    [
                        r["backend"],
                        f"claim_events, {c['workers']} caller(s)",
                        f"{c['ops_per_s']:,.0f}",
                        "",
                        f"{c['p50_ms']:.2f} / {c['p99_ms']:.2f} ms",
                    ]
                )
        threads = results[0].get("threads", 0)
        self.sections.append(
            (
                f"Store with {threads:,} mapped threads",
                _table(
                    ["backend", "operation", "ops/s", "lookup p50 / p99", "write p50 / p99"], out
                ),
            )
        )

    def fakes(self, rows: list[tuple[str, float, float]], streams: int, chunks: int) -> None:
        out = [[kind, f"{cpu * 1000:.1f} ms", f"{wall:.2f} s"] for kind, cpu, wall in rows]
        self.sections.append(
            (
                f"Fake Dify's own cost ({streams} streams x {chunks} chunks, raw reader)",
                _table(["fake", "fake CPU per 1,000 chunks", "reader wall"], out),
            )
        )

    def idle_rss(self, result: dict[str, Any]) -> None:
        rows = result["rows"]
        floor = rows[0]["rss_mib"]
        out = [
            [
                r["name"],
                f"{r['rss_mib']:.1f} MiB",
                f"{r['peak_mib']:.1f} MiB",
                "(floor)" if i == 0 else f"{r['rss_mib'] / floor:.2f}x",
            ]
            for i, r in enumerate(rows)
        ]
        self.sections.append(
            (
                "Idle memory: Slack Socket Mode connected, nothing to answer "
                f"({result['settle_s']:g} s idle; goal 50 MiB)",
                _table(["process", "RSS", "peak RSS", "vs bare slack-bolt"], out),
            )
        )

    def write(self, path: str, seconds: float) -> None:
        m = self.machine
        head = [
            "# Benchmark results",
            "",
            f"{m['date']} · {m['cores']} cores · Python {m['python']} · {m['platform']} · "
            f"commit {m['commit']} · run took {seconds / 60:.1f} min",
            "",
            "Reproduce with `.venv/bin/python -m bench` (see bench/__main__.py).",
            "",
        ]
        body = []
        for title, table in self.sections:
            body += [f"## {title}", "", table, ""]
        notes = Path(__file__).resolve().parent / "results" / "notes.md"
        if notes.exists():
            body += [notes.read_text()]
        Path(path).write_text("\n".join(head + body))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"
