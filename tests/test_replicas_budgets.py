"""Two ``dify-bridge run`` processes on one workspace share its Slack budgets (PostgreSQL).

The fake Slack limits ``chat.update`` like Tier 3 (50 a minute, 10 per short
window) at a time scale, and both processes run their budget at the same
scale (``SLACK_EDITS_PER_MINUTE`` 45 a scaled minute): alone, each would
spend the whole budget and the two together would draw 429s.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from dify_bridge.adapters.slack.format import markdown_to_mrkdwn
from dify_bridge.adapters.slack.sink import THINKING_REACTION
from dify_bridge.core import notices
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_ai import SLACK_TIERS

from .test_replicas_slack import Replica, Workspace, two_bridges

TIME_SCALE = 0.2
"""A Slack minute lasts 12 s."""
ANSWERS = 30


def edits_env(scale: float) -> dict[str, str]:
    return {"SLACK_STREAMING": "edits", "SLACK_EDITS_PER_MINUTE": str(45 / scale)}


async def both_see_each_other(ws: Workspace, count: int = 2) -> None:
    line = f"live replicas: {count}"
    async with asyncio.timeout(30):
        while not all(any(line in entry for entry in r.log) for r in ws.replicas):
            await asyncio.sleep(0.1)


async def logged(replica: Replica, text: str, within: float) -> None:
    async with asyncio.timeout(within):
        while not any(text in entry for entry in replica.log):
            await asyncio.sleep(0.1)


async def ask_all(
    ws: Workspace, slack: FakeSlack, answers: int, words: int
) -> tuple[list[dict[str, Any]], float]:
    """``answers`` mentions at once, spread over both replicas; seconds until all ended."""
    for n in range(answers):
        ws.dify.script([f"a{n}w{i} " for i in range(words)], delay=0.1)
    mentions = [
        slack.user_message(f"C{n:04d}", f"question {n}", mention=True, event_type="app_mention")
        for n in range(answers)
    ]
    started = time.monotonic()
    await asyncio.gather(
        *(ws.deliver(ws.replicas[n % 2], slack.event_callback(m)) for n, m in enumerate(mentions))
    )
    await slack.wait_until(
        lambda: all(ws.answers(m["ts"]) >= 1 for m in mentions), within=60 / TIME_SCALE
    )
    return mentions, time.monotonic() - started


def assert_each_answer_complete(
    slack: FakeSlack, mentions: list[dict[str, Any]], words: int
) -> None:
    shown = set()
    for n, mention in enumerate(mentions):
        texts = slack.thread_texts(f"C{n:04d}", mention["ts"])
        said = " ".join(texts).split()  # a crowded answer may come in several messages
        prefix = said[0].removesuffix("w0")
        assert said == [f"{prefix}w{i}" for i in range(words)], f"answer {n} is not complete"
        shown.add(prefix)
    assert len(shown) == len(mentions), "each question got its own answer"


@pytest.mark.timeout(300)
async def test_two_processes_editing_hard_in_one_workspace_stay_under_its_chat_update_tier(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path
) -> None:
    """Four answers on each replica, each wanting an edit a second: alone, each process
    would spend its whole budget, and the two together would draw 429s."""
    slack = FakeSlack()
    slack.use_tiers(SLACK_TIERS, time_scale=TIME_SCALE)
    env = edits_env(TIME_SCALE)
    async with two_bridges(fake_dify, postgres_url, tmp_path, slack=slack, env=env) as ws:
        await both_see_each_other(ws)
        mentions, last_final = await ask_all(ws, slack, 8, words=100)  # about 10 s each

    assert_each_answer_complete(slack, mentions, 100)
    for mention in mentions:
        assert len(slack.thread(mention["channel"], mention["ts"])) == 1, "edited, not grown"
    updates = len(slack.calls_to("chat.update"))
    assert updates >= 8 * 5, "the answers were edited as they grew"
    assert slack.ai.rate_limited <= 2, f"{slack.ai.rate_limited} answers of 429 from Slack"
    assert last_final < 60


@pytest.mark.timeout(300)
async def test_thirty_answers_on_two_processes_all_complete_under_one_tier(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path
) -> None:
    slack = FakeSlack()
    slack.use_tiers(SLACK_TIERS, time_scale=TIME_SCALE)
    env = edits_env(TIME_SCALE)
    async with two_bridges(fake_dify, postgres_url, tmp_path, slack=slack, env=env) as ws:
        await both_see_each_other(ws)
        mentions, last_final = await ask_all(ws, slack, ANSWERS, words=40)  # about 4 s each

    assert_each_answer_complete(slack, mentions, 40)
    assert slack.ai.rate_limited <= 2, f"{slack.ai.rate_limited} answers of 429 from Slack"
    assert last_final < 90


@pytest.mark.timeout(300)
@pytest.mark.parametrize("streaming", ["edits", "auto"])
async def test_answers_of_a_killed_process_are_marked_interrupted_and_its_share_returns(
    fake_dify: FakeDify, postgres_url: str, tmp_path: Path, streaming: str
) -> None:
    # an edit budget roomy enough that three answers are edited (not grown by pieces)
    env = edits_env(TIME_SCALE) | {"SLACK_STREAMING": streaming}
    async with two_bridges(fake_dify, postgres_url, tmp_path, env=env) as ws:
        one, survivor = ws.replicas
        slack = ws.slack
        await both_see_each_other(ws)
        for _ in range(3):
            fake_dify.script([f"w{i} " for i in range(600)], delay=0.05)  # about 30 s
        mentions = [
            slack.user_message(f"CK{n}", f"long one {n}", mention=True, event_type="app_mention")
            for n in range(3)
        ]
        for mention in mentions:
            await ws.deliver(one, slack.event_callback(mention))

        def under_way() -> bool:
            shown = [slack.thread(m["channel"], m["ts"]) for m in mentions]
            # edited answers show their Stop button; a streamed one is still streaming
            return all(
                t and (t[-1].streaming or t[-1].buttons()) and "w3" in t[-1].visible for t in shown
            )

        await slack.wait_until(under_way, within=30)
        one.process.send_signal(signal.SIGKILL)
        await one.process.wait()

        interrupted = markdown_to_mrkdwn(f"⚠️ {notices.INTERRUPTED}")

        def marked() -> bool:
            shown = [slack.thread(m["channel"], m["ts"]) for m in mentions]
            return all(t and t[-1].visible.endswith(interrupted) for t in shown)

        await slack.wait_until(marked, within=30)
        await logged(survivor, "live replicas: 1", within=30)

    for mention in mentions:
        (answer,) = slack.thread(mention["channel"], mention["ts"])
        assert answer.buttons() == [], "the Stop button stayed on a dead replica's answer"
        assert not answer.streaming, "the dead replica's stream was left open"
        assert answer.visible.startswith("w0 w1 w2"), "the text so far was kept"
        assert answer.visible.count(interrupted) == 1
        question = slack.messages[(mention["channel"], mention["ts"])]
        assert not question.reactions.get(THINKING_REACTION), "the hourglass stayed"
    marked_lines = [line for line in survivor.log if "marked the answer in" in line]
    assert len(marked_lines) == 3, "each answer was taken over once"
