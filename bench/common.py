"""Pieces every benchmark shares: the fake Dify process, a timing sink, statistics."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dify_bridge.core import EditBudget, Message, SinkLimits

ROOT = Path(__file__).resolve().parent.parent
STAMP = re.compile(r"s(\d{12,}) ")


@dataclass
class FakeDifyProcess:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)


@contextlib.contextmanager
def fake_dify_process(
    *, chunks: int, interval: float, first_delay: float = 0.02, kind: str = "lean"
) -> Iterator[FakeDifyProcess]:
    """Start a fake Dify in its own process; yields its ``/v1`` URL and pid."""
    module = "bench.fake_dify" if kind == "lean" else "bench.faithful_dify"
    command = [
        sys.executable,
        "-m",
        module,
        f"--chunks={chunks}",
        f"--interval={interval}",
        f"--first-delay={first_delay}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fake Dify did not start: {line!r}")
        yield FakeDifyProcess(f"http://127.0.0.1:{int(line.split()[1])}/v1", process.pid)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stamp_of(text: str) -> int | None:
    """The fake Dify's write time (monotonic ns) carried in an answer's first chunk."""
    found = STAMP.search(text)
    return int(found.group(1)) if found else None


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def print_json(result: dict[str, Any]) -> None:
    """A worker's result, as the last line of its output."""
    print(json.dumps(result), flush=True)


@dataclass
class TimingSink:
    """A platform thread in memory that notes when text first became visible.

    Paced like Slack (one edit a second per answer) unless told otherwise; it
    keeps only each message's current text, so 1,000 of them cost little.
    """

    max_len: int = 3800
    min_edit_interval: float = 1.0
    edit_budget: EditBudget | None = None
    messages: dict[str, str] = field(default_factory=dict)
    first_post_ns: int | None = None
    first_stamp_ns: int | None = None
    posts: int = 0
    edits: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def limits(self) -> SinkLimits:
        return SinkLimits(message_chars=self.max_len, edit_interval=self.min_edit_interval)

    def render(self, markdown: str) -> str:
        return markdown

    async def show_thinking(self) -> None:
        return None

    async def clear_thinking(self) -> None:
        return None

    async def post(self, message: Message) -> str:
        text = message.text
        if self.first_post_ns is None:
            self.first_post_ns = time.monotonic_ns()
            self.first_stamp_ns = stamp_of(text)
        key = f"bench:{next(self._ids)}"
        self.messages[key] = text
        self.posts += 1
        return key

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        self.messages[message_key] = message.text
        self.edits += 1

    @property
    def visible(self) -> str:
        return "".join(self.messages.values())

    @property
    def latency_ms(self) -> float | None:
        if self.first_post_ns is None or self.first_stamp_ns is None:
            return None
        return (self.first_post_ns - self.first_stamp_ns) / 1e6
