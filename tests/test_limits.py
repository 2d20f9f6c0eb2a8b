"""Question limits per person and per channel: the polite refusal, nothing sent to Dify."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dify_bridge.core import Incoming, notices
from dify_bridge.core.limits import QuestionLimits
from dify_bridge.demo.fake_dify import FakeDify

from .support import RecordingSink, incoming, running_bridge


def question(thread: str, text: str, *, user_id: str, channel_id: str = "") -> Incoming:
    return replace(incoming(thread, text), user_id=user_id, channel_id=channel_id)


def limited(rt: object, limit: str) -> float:
    registry = rt.bridge.metrics.registry  # type: ignore[attr-defined]
    labels = {"platform": "test", "limit": limit}
    return registry.get_sample_value("dify_bridge_questions_limited_total", labels) or 0.0


async def test_one_person_over_the_limit_gets_one_line_and_dify_gets_nothing(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    env = {"QUESTIONS_PER_USER_PER_MINUTE": "2"}
    async with running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt:
        answered = [RecordingSink(), RecordingSink()]
        for number, sink in enumerate(answered):
            await rt.bridge.handle_message(question(f"t{number}", "hi", user_id="U1"), sink)
        refused = RecordingSink()
        await rt.bridge.handle_message(question("t9", "one more", user_id="U1"), refused)
        other = RecordingSink()
        await rt.bridge.handle_message(question("t10", "me too", user_id="U2"), other)
        assert limited(rt, "user") == 1
    assert all(sink.texts and sink.texts != [notices.TOO_MANY_FROM_YOU] for sink in answered)
    assert refused.texts == [notices.TOO_MANY_FROM_YOU]
    assert not refused.thinking
    assert other.texts != [notices.TOO_MANY_FROM_YOU], "someone else is not limited"
    asked = [request["query"] for request in fake_dify.chat_requests]
    assert "one more" not in " ".join(asked)
    assert len(asked) == 3


async def test_a_busy_channel_is_limited_across_people(fake_dify: FakeDify, tmp_path: Path) -> None:
    env = {"QUESTIONS_PER_CHANNEL_PER_MINUTE": "1"}
    async with running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt:
        first, second, elsewhere = RecordingSink(), RecordingSink(), RecordingSink()
        await rt.bridge.handle_message(question("t1", "a", user_id="U1", channel_id="C1"), first)
        await rt.bridge.handle_message(question("t2", "b", user_id="U2", channel_id="C1"), second)
        await rt.bridge.handle_message(
            question("t3", "c", user_id="U2", channel_id="C2"), elsewhere
        )
        assert limited(rt, "channel") == 1
    assert second.texts == [notices.TOO_MANY_HERE]
    assert first.texts and elsewhere.texts != [notices.TOO_MANY_HERE]
    assert len(fake_dify.chat_requests) == 2


async def test_limits_are_off_unless_set(fake_dify: FakeDify, tmp_path: Path) -> None:
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        for number in range(5):
            await rt.bridge.handle_message(incoming(f"t{number}", "hi"), RecordingSink())
    assert len(fake_dify.chat_requests) == 5


def test_the_window_slides_and_refusals_do_not_count() -> None:
    now = [1000.0]
    limits = QuestionLimits(per_user=2, clock=lambda: now[0])
    asking = question("t", "hi", user_id="U1")
    assert limits.admit(asking) is None
    now[0] += 30
    assert limits.admit(asking) is None
    for _ in range(5):  # asking again and again while refused does not push the wait out
        refusal = limits.admit(asking)
        assert refusal is not None and refusal.limit == "user"
    now[0] += 30.5  # the first question is now over a minute old
    assert limits.admit(asking) is None
    assert limits.admit(asking) is not None
