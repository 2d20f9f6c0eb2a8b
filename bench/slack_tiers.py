"""Slack's per-method tiers at real time: 50 answers at once, streamed (``auto``) vs edited.

The real runtime and Slack adapter (HTTP mode) run against the fake Slack of
``tests/fakes/slack`` with :data:`BENCH_TIERS` on at ``time_scale=1.0`` (every
method's minute window and its short burst window, as Slack counts them) and
the tests' fake Dify (:mod:`tests.fakes.dify`), both in this process. 50
mentions arrive at once, one per channel; each answer is 100 chunks 0.1 s
apart (10 s) and its text is distinct (``a<n>-<i>``), so a thread showing
another thread's words would count as lost text.

Measured per run (``--streaming auto|edits``, each in a fresh process):

- **all final**: from the mentions to the moment every answer is final: its
  messages hold no stream open, the last one carries the buttons / feedback,
  and the hourglass is off;
- **429s** the fake answered, per method;
- **characters lost**: the scripted answer's characters missing from what the
  thread shows at the end (sequence match of the two texts, whitespace made
  single spaces: an answer may go on in a new message at a word break);
- **median interval between visible updates** per answer: the gaps between
  the accepted calls that changed its visible text (``chat.postMessage``,
  ``chat.update``, ``chat.startStream``, ``chat.appendStream`` /
  ``chat.stopStream`` with text), the median per answer, then the median and
  90th percentile over the answers.

``.venv/bin/python -m bench --only slack_tiers`` runs both modes and writes
``bench/results/slack_tiers.md``; ``python -m bench.slack_tiers --streaming auto``
runs one and prints its JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import itertools
import logging
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_ai import SLACK_TIERS, Tier

from bench.common import own_cpu_seconds, peak_rss_mb, print_json
from dify_bridge.adapters.slack.app import SlackAdapter
from dify_bridge.adapters.slack.sink import THINKING_REACTION
from dify_bridge.config import parse_settings
from dify_bridge.ops.runtime import open_runtime

BENCH_TIERS: dict[str, Tier] = {
    **SLACK_TIERS,
    # chat.postMessage: about one message a second per channel, short bursts allowed
    "chat.postMessage": Tier(60, 60.0, 3, 3.0, per_channel=True),
}
"""The fake Slack's tiers (``SLACK_TIERS``); the postMessage rule spelled out for the report."""
assert BENCH_TIERS["chat.postMessage"] == SLACK_TIERS["chat.postMessage"]

VISIBLE_METHODS = (
    "chat.postMessage",
    "chat.update",
    "chat.startStream",
    "chat.appendStream",
    "chat.stopStream",
)
TEXT_FREE = ("chat.stopStream", "chat.appendStream")
"""Methods whose call changes no text when it carries none (a stop with only buttons)."""


def chunks_for(n: int, chunks: int) -> list[str]:
    return [f"a{n}-{i} " for i in range(chunks)]


def spaced(text: str) -> str:
    """The words of ``text``, one space apart."""
    return " ".join(text.split())


def chars_lost(expected: str, shown: str) -> int:
    matcher = difflib.SequenceMatcher(None, expected, shown, autojunk=False)
    return len(expected) - sum(block.size for block in matcher.get_matching_blocks())


def changes_text(call: Any) -> bool:
    if not call.ok or call.method not in VISIBLE_METHODS:
        return False
    if call.method in TEXT_FREE:
        return bool(call.args.get("markdown_text") or call.args.get("chunks"))
    return True


def is_final(slack: FakeSlack, channel: str, ts: str) -> bool:
    messages = slack.thread(channel, ts)
    if not messages or any(m.streaming for m in messages):
        return False
    if not messages[-1].buttons():
        return False
    user_message = slack.messages.get((channel, ts))
    return user_message is not None and THINKING_REACTION not in user_message.reactions


def turn_over(slack: FakeSlack, channel: str, ts: str) -> bool:
    """The bridge took its hourglass off the question: the turn ended, final or not."""
    return any(
        c.ok and c.args.get("channel") == channel and c.args.get("timestamp") == ts
        for c in slack.calls_to("reactions.remove")
    )


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    slack = FakeSlack()
    await slack.start()
    slack.use_tiers(BENCH_TIERS, time_scale=1.0)
    dify = FakeDify(api_keys=("app-bench",))
    await dify.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            return await _measure(args, slack, dify, Path(scratch))
    finally:
        await dify.stop()
        await slack.close()


async def _measure(
    args: argparse.Namespace, slack: FakeSlack, dify: FakeDify, scratch: Path
) -> dict[str, Any]:
    for n in range(args.streams):
        dify.script(chunks_for(n, args.chunks), delay=args.delay)
    env = {
        "DIFY_API_URL": dify.url,
        "DIFY_API_KEY": "app-bench",
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.db'}",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "SLACK_STREAMING": args.streaming,
        "HOST": "127.0.0.1",
        "PORT": "0",
    }
    settings = parse_settings(env)
    assert settings.slack is not None
    final_at: dict[str, float] = {}
    timed_out = False
    async with open_runtime(settings) as runtime:
        adapter = SlackAdapter(settings.slack, runtime.bridge)
        await adapter.start()
        url = f"http://127.0.0.1:{adapter.port}/slack/events"
        try:
            events = [
                slack.user_message(f"C{n}", f"question {n}", mention=True, event_type="app_mention")
                for n in range(args.streams)
            ]

            def all_final() -> bool:
                """Every answer final (or over without being final: a failed turn)."""
                now = time.monotonic()
                over = 0
                for event in events:
                    channel = event["channel"]
                    if channel not in final_at and is_final(slack, channel, event["ts"]):
                        final_at[channel] = now
                    over += channel in final_at or turn_over(slack, channel, event["ts"])
                return over == len(events)

            started = time.monotonic()
            cpu_before = own_cpu_seconds()
            statuses = await asyncio.gather(
                *(slack.post_event(url, slack.event_callback(e)) for e in events)
            )
            assert all(status == 200 for status, _ in statuses), statuses
            try:
                await slack.wait_until(all_final, within=args.timeout)
            except TimeoutError:
                timed_out = True
            ended = time.monotonic()
            cpu = own_cpu_seconds() - cpu_before
        finally:
            await runtime.bridge.shutdown(5)
            await adapter.stop()

    # which scripted answer went to which thread: Dify's queue is FIFO in request order
    answer_of: dict[str, int] = {}
    for n, request in enumerate(dify.chat_requests):
        asked = int(str(request["query"]).rsplit(" ", 1)[-1])
        answer_of[f"C{asked}"] = n

    calls = [c for c in slack.calls if c.at >= started]
    refused = Counter(c.method for c in calls if c.status == 429)
    accepted = Counter(c.method for c in calls if c.ok and c.method in VISIBLE_METHODS)
    failed = Counter(
        f"{c.method}: {c.error}" for c in calls if not c.ok and c.status != 429 and c.error
    )
    shown_at: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if changes_text(call):
            shown_at[str(call.args.get("channel"))].append(call.at)
    medians, firsts = [], []
    for times in shown_at.values():
        times.sort()
        firsts.append(times[0] - started)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        if gaps:
            medians.append(statistics.median(gaps))
    lost_chars, lost_answers, streamed_answers = 0, 0, 0
    for event in events:
        channel = event["channel"]
        index = answer_of.get(channel)
        expected = spaced("".join(chunks_for(index, args.chunks))) if index is not None else "?"
        # a message break is a word break
        shown = spaced(" ".join(slack.thread_texts(channel, event["ts"])))
        lost = chars_lost(expected, shown)
        lost_chars += lost
        lost_answers += lost > 0
        streamed_answers += any(
            c.ok and c.method == "chat.startStream" and c.args.get("channel") == channel
            for c in calls
        )
    finals = sorted(t - started for t in final_at.values())
    medians.sort()
    return {
        "streaming": args.streaming,
        "streams": args.streams,
        "chunks": args.chunks,
        "answer_s": args.chunks * args.delay,
        "all_final_s": (ended - started) if len(final_at) == len(events) else None,
        "timed_out": timed_out,
        "final_p50_s": statistics.median(finals) if finals else None,
        "answers_final": len(final_at),
        "streamed_answers": streamed_answers,
        "first_text_p50_s": statistics.median(firsts) if firsts else None,
        "responses_429": sum(refused.values()),
        "refused": dict(refused),
        "accepted": dict(accepted),
        "failed": dict(failed),
        "chars_expected": sum(
            len(spaced("".join(chunks_for(n, args.chunks)))) for n in range(args.streams)
        ),
        "chars_lost": lost_chars,
        "answers_lost": lost_answers,
        "median_interval_s": statistics.median(medians) if medians else None,
        "p90_interval_s": medians[int(0.9 * (len(medians) - 1))] if medians else None,
        "worst_interval_s": medians[-1] if medians else None,
        "cpu_s": cpu,
        "peak_rss_mb": peak_rss_mb(),
    }


# --------------------------------------------------------------------- report

TARGETS = {"all_final_s": 50.0, "responses_429": 0, "chars_lost": 0, "median_interval_s": 5.0}


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _ratio(auto: float | None, edits: float | None) -> str:
    if auto is None or edits is None or edits == 0:
        return "-"
    return f"{auto / edits:.2f}x"


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def table(auto: dict[str, Any], edits: dict[str, Any]) -> str:
    def final(r: dict[str, Any]) -> str:
        if r["all_final_s"] is None:
            return f"{r['answers_final']} of {r['streams']} final (timed out: {r['timed_out']})"
        return _s(r["all_final_s"])

    rows = [
        [
            "all answers final after",
            final(auto),
            final(edits),
            _ratio(auto["all_final_s"], edits["all_final_s"]),
            "≤ 50 s",
        ],
        [
            "median answer final after",
            _s(auto["final_p50_s"]),
            _s(edits["final_p50_s"]),
            _ratio(auto["final_p50_s"], edits["final_p50_s"]),
            "",
        ],
        ["429 responses", str(auto["responses_429"]), str(edits["responses_429"]), "", "0"],
        [
            "characters lost",
            f"{auto['chars_lost']} of {auto['chars_expected']}",
            f"{edits['chars_lost']} of {edits['chars_expected']}",
            "",
            "0",
        ],
        [
            "median interval between visible updates (median over answers)",
            _s(auto["median_interval_s"]),
            _s(edits["median_interval_s"]),
            _ratio(auto["median_interval_s"], edits["median_interval_s"]),
            "≤ 5 s",
        ],
        [
            "same, 90th percentile / worst answer",
            f"{_s(auto['p90_interval_s'])} / {_s(auto['worst_interval_s'])}",
            f"{_s(edits['p90_interval_s'])} / {_s(edits['worst_interval_s'])}",
            "",
            "",
        ],
        [
            "first text after (median)",
            _s(auto["first_text_p50_s"]),
            _s(edits["first_text_p50_s"]),
            "",
            "",
        ],
        [
            "answers started as streams",
            str(auto["streamed_answers"]),
            str(edits["streamed_answers"]),
            "",
            "",
        ],
        ["accepted text calls", _counts(auto["accepted"]), _counts(edits["accepted"]), "", ""],
        ["429s per method", _counts(auto["refused"]), _counts(edits["refused"]), "", ""],
        ["other errors", _counts(auto["failed"]), _counts(edits["failed"]), "", ""],
        ["bridge + fakes CPU", f"{auto['cpu_s']:.1f} s", f"{edits['cpu_s']:.1f} s", "", ""],
    ]
    header = [
        "measure",
        "SLACK_STREAMING=auto",
        "SLACK_STREAMING=edits",
        "auto / edits",
        "target (auto)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def tiers_table() -> str:
    lines = ["| method | per minute | burst | scope |", "|---|---|---|---|"]
    for method, tier in BENCH_TIERS.items():
        scope = "per channel" if tier.per_channel else "workspace"
        lines.append(
            f"| {method} | {tier.per_window} / {tier.window:.0f} s | "
            f"{tier.burst} / {tier.burst_window:.0f} s | {scope} |"
        )
    return "\n".join(lines)


def verdict(auto: dict[str, Any]) -> list[str]:
    out = []
    for key, target in TARGETS.items():
        value = auto.get(key)
        if value is None:
            out.append(f"- `{key}`: not measured (run timed out) — target {target}")
        elif value <= target:
            out.append(f"- `{key}`: {value:.1f} ≤ {target} — met")
        else:
            out.append(f"- `{key}`: {value:.1f} > {target} — missed by {value - target:.1f}")
    return out


RESULTS = Path(__file__).resolve().parent / "results" / "slack_tiers.md"
READING = RESULTS.with_name("slack_tiers_notes.md")
"""Hand-written reading of the numbers, appended to the results (kept across runs)."""


def write(runs: dict[str, dict[str, Any]], machine: dict[str, str]) -> None:
    auto, edits = runs["auto"], runs["edits"]
    m = machine
    lines = [
        "# Slack tiers at real time: streamed (auto) vs edited answers",
        "",
        f"{m['date']} · {m['cores']} cores · Python {m['python']} · commit {m['commit']}",
        "",
        f"`.venv/bin/python -m bench --only slack_tiers` ({__name__}): {auto['streams']} "
        f"mentions at once, one per channel, each answer {auto['chunks']} chunks "
        f"over {auto['answer_s']:.0f} s from the tests' fake Dify; the fake Slack's "
        "per-method tiers on at `time_scale=1.0`; both modes in one run, each in a "
        "fresh process, default settings otherwise (`SLACK_EDITS_PER_MINUTE` 45).",
        "",
        table(auto, edits),
        "",
        "Tiers the fake Slack enforced (sliding windows; a call over either window "
        "is answered 429 with `Retry-After`):",
        "",
        tiers_table(),
        "",
        "Targets for `auto`:",
        "",
        *verdict(auto),
        "",
    ]
    if READING.exists():
        lines += [READING.read_text()]
    RESULTS.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streaming", choices=("auto", "edits"), default="auto")
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    result = asyncio.run(measure(args))
    result["timeout_s"] = args.timeout
    print_json(result)


if __name__ == "__main__":
    main()
