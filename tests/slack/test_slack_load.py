"""Many answers at once under Slack's Tier-3 limit on chat.update."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from pathlib import Path

from dify_bridge.adapters.slack.format import markdown_to_mrkdwn
from tests.fakes.dify import FakeDify
from tests.fakes.slack import ApiCall, FakeSlack
from tests.slack.conftest import running_slack_bot

THREADS = 20


def answer_for(n: int) -> str:
    return f"Answer number {n}: " + " ".join(f"word{n}-{i}" for i in range(25))


async def test_twenty_threads_under_the_limit_lose_no_text_and_honour_429s(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    slack = fake_slack
    # a tight workspace limit, and a bot configured to edit faster than it allows
    slack.rate_limit("chat.update", calls=15, window=4.0)
    for n in range(THREADS):
        fake_dify.script(answer_for(n), delay=0.08)

    async with running_slack_bot(
        slack, fake_dify, tmp_path / "bridge.db", SLACK_EDITS_PER_MINUTE="600"
    ) as bot:
        events = [
            slack.user_message(f"C{n}", f"question {n}", mention=True, event_type="app_mention")
            for n in range(THREADS)
        ]
        await asyncio.gather(*(bot.send(event) for event in events))
        for event in events:
            await bot.answered(event["channel"], event["ts"])

    # Dify's queue is FIFO, so which thread got which answer follows request order
    queries = [request["query"] for request in fake_dify.chat_requests]
    assert len(queries) == THREADS
    for n, query in enumerate(queries):
        event = events[int(query.rsplit(" ", 1)[-1])]
        shown = slack.thread_texts(event["channel"], event["ts"])
        assert shown == [markdown_to_mrkdwn(answer_for(n))], f"{event['channel']} lost text"

    refused = [c for c in slack.calls_to("chat.update") if c.status == 429]
    assert refused, "the test should have pushed the bot into Slack's limit"
    assert not [c for c in slack.calls if c.status == 200 and not c.ok and c.error != "ratelimited"]
    assert_each_message_waited_after_429(slack.calls_to("chat.update"))


def assert_each_message_waited_after_429(updates: list[ApiCall]) -> None:
    by_message: dict[tuple[str, str], list[ApiCall]] = defaultdict(list)
    for call in updates:
        by_message[(call.args["channel"], call.args["ts"])].append(call)
    for message, calls in by_message.items():
        for refused, following in itertools.pairwise(calls):
            if refused.status != 429 or refused.retry_after is None:
                continue
            waited = following.at - refused.at
            assert waited >= refused.retry_after - 0.05, (
                f"{message} was edited again {waited:.2f}s after a 429 "
                f"that said Retry-After {refused.retry_after:.0f}"
            )
