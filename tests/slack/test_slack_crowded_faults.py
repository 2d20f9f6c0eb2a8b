"""A crowded answer (one that grows by final pieces) when things go wrong or pause."""

from __future__ import annotations

from pathlib import Path

import pytest

from dify_bridge.adapters.slack import budgets
from dify_bridge.adapters.slack.format import markdown_to_mrkdwn
from dify_bridge.core import writer
from dify_bridge.core.notices import CUT_NOTICE
from tests.fakes.chatflow import FakeChatflow, Until
from tests.fakes.dify import FakeDify
from tests.fakes.slack import FakeSlack
from tests.slack.conftest import running_slack_bot
from tests.slack.test_slack_crowded import ANSWER, CROWDED, same_words


async def test_a_piece_slack_refused_is_posted_later_as_a_piece(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    fake_dify.script(ANSWER, delay=0.08)
    async with running_slack_bot(fake_slack, fake_dify, tmp_path / "bridge.db", **CROWDED) as bot:
        event = fake_slack.user_message("C1", "tell me", mention=True, event_type="app_mention")
        await bot.send(event)
        ts = str(event["ts"])
        # two pieces are up: the next post (the last piece, with the buttons) fails once
        await fake_slack.wait_until(lambda: len(fake_slack.thread("C1", ts)) >= 2, within=20)
        fake_slack.fail_next("chat.postMessage", status=500, error="internal_error")
        await bot.answered("C1", ts)

    assert [c for c in fake_slack.calls_to("chat.postMessage") if not c.ok], "a post failed"
    shown = [text.strip() for text in fake_slack.thread_texts("C1", ts)]
    assert "…" not in shown, "no piece was blanked: the answer kept growing by pieces"
    assert same_words(shown, ANSWER)
    assert not fake_slack.calls_to("chat.update"), "pieces are final: nothing is edited"


async def test_text_that_came_just_after_a_piece_is_shown_while_dify_pauses(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path
):
    first = "The first paragraph of the answer, long enough to be a piece of its own."
    second = "The second one came half a second later: " + " ".join(f"word{i}" for i in range(40))
    # then the app goes quiet (a slow tool, a long think): no event for a long while
    fake_dify.script([first + "\n\n", second + ".\n\n", "The end."], delay=0.5, stall_after=2)
    async with running_slack_bot(fake_slack, fake_dify, tmp_path / "bridge.db", **CROWDED) as bot:
        event = fake_slack.user_message("C1", "tell me", mention=True, event_type="app_mention")
        await bot.send(event)
        ts = str(event["ts"])

        def second_shown() -> bool:
            return any("word39" in text for text in fake_slack.thread_texts("C1", ts))

        await fake_slack.wait_until(second_shown, within=15)
        assert fake_slack.thread_texts("C1", ts)[0].strip() == first


async def test_a_long_answer_grown_by_pieces_is_cut_no_sooner_than_an_edited_one(
    fake_slack: FakeSlack, fake_dify: FakeDify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # quick pieces, so the test sees many of them in a few seconds; ~18,000 characters
    # fit in 5 messages of an edited answer, far below its 30-message cap
    monkeypatch.setattr(writer, "CONTINUE_EVERY", 0.0)
    monkeypatch.setattr(budgets, "POSTS_PER_MINUTE", 6000.0)
    paragraphs = [f"Paragraph {n}: " + "some words " * 32 + f"end{n}." for n in range(50)]
    fake_dify.script([p + "\n\n" for p in paragraphs], delay=0.1)
    async with running_slack_bot(fake_slack, fake_dify, tmp_path / "bridge.db", **CROWDED) as bot:
        ts = await bot.ask("C1", "tell me everything")

    shown = " ".join(fake_slack.thread_texts("C1", ts))
    assert len(fake_slack.thread("C1", ts)) > 5, "the answer grew by pieces"
    assert markdown_to_mrkdwn(CUT_NOTICE).strip() not in shown
    assert [n for n in range(50) if f"end{n}." not in shown] == []


async def test_a_resumed_chatflow_replaying_its_answer_keeps_the_pieces_as_they_are(
    fake_slack: FakeSlack, chatflow: FakeChatflow, tmp_path: Path
):
    # the stream drops after the first piece is up; the resume replays the answer from
    # its first chunk (an event log's replay), so for a while the text is shorter
    chatflow.snapshot_replays = True
    first = "The first paragraph is long enough to be a piece of its own, and it ends here."
    rest = [f"word{i} " for i in range(12)]
    posted = Until(
        lambda: any(
            m.user == fake_slack.bot_user_id and m.channel == "C1"
            for m in list(fake_slack.messages.values())
        )
    )
    whole = first + "\n\n" + "".join(rest)
    chatflow.script([first, "\n\n", posted, *rest], break_after=3, while_away=2)
    async with running_slack_bot(fake_slack, chatflow, tmp_path / "bridge.db", **CROWDED) as bot:
        ts = await bot.ask("C1", "tell me")

    shown = [text.strip() for text in fake_slack.thread_texts("C1", ts)]
    assert shown[0] == markdown_to_mrkdwn(first)
    assert same_words(shown, whole), "each word once, in order"
    assert not fake_slack.calls_to("chat.update"), "the first piece was never taken back"
    assert len(chatflow.chat_posts) == 1 and chatflow.resumes
