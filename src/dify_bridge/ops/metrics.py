"""Prometheus metrics of one bridge process, served at ``/metrics``.

Each runtime owns its registry (no global state), so tests and several
runtimes in one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter(
            "dify_bridge_turns",
            "Questions asked, by platform and outcome (answered, cut_off, paused, failed, "
            "stopped, interrupted)",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "dify_bridge_errors",
            "Failed turns by kind of error",
            ["kind"],
            registry=self.registry,
        )
        self.first_chunk = Histogram(
            "dify_bridge_time_to_first_chunk_seconds",
            "From sending the question to Dify's first answer text",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 60),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "dify_bridge_rate_limited",
            "429 answers received, by service (dify, slack, discord)",
            ["service"],
            registry=self.registry,
        )
        self.questions_limited = Counter(
            "dify_bridge_questions_limited",
            "Questions refused by QUESTIONS_PER_USER/CHANNEL_PER_MINUTE, by platform and limit",
            ["platform", "limit"],
            registry=self.registry,
        )
        self.active_streams = Gauge(
            "dify_bridge_active_streams",
            "Answers streaming right now",
            registry=self.registry,
        )
        self.live_replicas = Gauge(
            "dify_bridge_live_replicas",
            "Replicas sharing the store's budgets (heartbeats seen), this one included",
            registry=self.registry,
        )
        self.live_replicas.set(1)
        self.taken_over = Counter(
            "dify_bridge_answers_taken_over",
            "Answers a dead replica left in flight that this one marked, by platform",
            ["platform"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
