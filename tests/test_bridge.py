"""The bridge engine end to end: real store, real Dify client, fake Dify over HTTP.

Every test runs on SQLite and on PostgreSQL (``database_url``).
"""

from __future__ import annotations

import asyncio

from dify_bridge.core import notices
from dify_bridge.core.pacing import EditBudget
from dify_bridge.core.types import Rating, Reaction
from tests.fakes.dify import FakeDify

from .support import RecordingSink, incoming, running_bridge

ANSWER = "The quick brown fox jumps over the lazy dog. " * 3


async def test_answer_streams_into_the_thread_and_ends_exact(
    fake_dify: FakeDify, database_url: str
) -> None:
    fake_dify.script(ANSWER, delay=0.01)
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, database_url) as rt:
        await rt.bridge.handle_message(incoming("t1", "hello"), sink)
    assert sink.texts == [ANSWER.strip() + " "] or sink.visible == ANSWER
    assert sink.calls[0][0] == "post"
    assert len(sink.calls[0][2]) < len(ANSWER), (
        "the first text is shown before the answer is complete"
    )
    assert sink.edits >= 1
    assert not sink.thinking


async def test_follow_up_keeps_the_conversation_and_survives_a_restart(
    fake_dify: FakeDify, database_url: str
) -> None:
    db = database_url
    async with running_bridge(fake_dify.url, db) as rt:
        await rt.bridge.handle_message(incoming("t1", "first"), RecordingSink())
        await rt.bridge.handle_message(incoming("t1", "second"), RecordingSink())
        await rt.bridge.handle_message(incoming("t2", "other thread"), RecordingSink())
    async with running_bridge(fake_dify.url, db) as rt:
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t1", "third"), sink)
    first, second, other, third = fake_dify.chat_requests
    assert first["conversation_id"] == ""
    ids = {c.id for c in fake_dify.conversations.values() if c.user == "test:t1"}
    assert len(ids) == 1
    assert second["conversation_id"] in ids and third["conversation_id"] in ids
    assert other["conversation_id"] == "" and other["user"] == "test:t2"
    assert "Earlier you asked: _second_" in sink.visible


async def test_lost_conversation_is_replaced_and_the_user_still_gets_an_answer(
    fake_dify: FakeDify, database_url: str
) -> None:
    async with running_bridge(fake_dify.url, database_url) as rt:
        await rt.bridge.handle_message(incoming("t1", "first"), RecordingSink())
        old = await rt.store.get_thread("test:t1")
        assert old is not None
        fake_dify.delete_conversation(old.conversation_id)
        fake_dify.script("Fresh answer.")
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t1", "second"), sink)
        new = await rt.store.get_thread("test:t1")
    assert sink.visible == notices.LOST_CONTEXT + "\n\nFresh answer."
    assert new is not None and new.conversation_id != old.conversation_id
    assert new.dify_user == old.dify_user
    assert [r["query"] for r in fake_dify.chat_requests] == ["first", "second", "second"]


async def test_a_second_404_gives_up_with_a_notice(fake_dify: FakeDify, database_url: str) -> None:
    async with running_bridge(fake_dify.url, database_url) as rt:
        await rt.bridge.handle_message(incoming("t1", "first"), RecordingSink())
        fake_dify.fail_next(404, "not_found", "Conversation Not Exists.", times=2)
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t1", "second"), sink)
    assert len(fake_dify.chat_requests) == 3
    assert sink.visible.startswith("⚠️")


async def test_reaction_rates_the_answer_as_the_thread_user(
    fake_dify: FakeDify, database_url: str
) -> None:
    fake_dify.script("A" * 150 + " " + "B" * 150)
    sink = RecordingSink(max_len=200)
    async with running_bridge(fake_dify.url, database_url) as rt:
        await rt.bridge.handle_message(incoming("t1", "long please"), sink)
        assert len(sink.messages) == 2
        second_part = list(sink.messages)[1]
        await rt.bridge.handle_reaction(Reaction(second_part, Rating.DISLIKE, "U9"))
        (message,) = fake_dify.messages.values()
        assert message.rating == "dislike"
        await rt.bridge.handle_reaction(Reaction(second_part, None, "U9"))
        assert message.rating is None
        await rt.bridge.handle_reaction(Reaction("test:not-an-answer", Rating.LIKE, "U9"))
    feedback_users = [r.json["user"] for r in fake_dify.requests if r.path.endswith("/feedbacks")]
    assert feedback_users == ["test:t1", "test:t1"]


async def test_redelivered_event_is_answered_once(fake_dify: FakeDify, database_url: str) -> None:
    db = database_url
    async with running_bridge(fake_dify.url, db) as rt:
        await asyncio.gather(
            rt.bridge.handle_message(incoming("t1", "hi", event="ev-1"), RecordingSink()),
            rt.bridge.handle_message(incoming("t1", "hi", event="ev-1"), RecordingSink()),
        )
    async with running_bridge(fake_dify.url, db) as rt:
        await rt.bridge.handle_message(incoming("t1", "hi", event="ev-1"), RecordingSink())
    assert len(fake_dify.chat_requests) == 1


async def test_turns_in_a_thread_keep_their_order_while_threads_run_in_parallel(
    fake_dify: FakeDify, database_url: str
) -> None:
    fake_dify.chunk_delay = 0.001
    async with running_bridge(fake_dify.url, database_url) as rt:
        turns = [
            rt.bridge.handle_message(
                incoming(f"t{thread}", f"t{thread} turn {turn}"), RecordingSink()
            )
            for turn in range(5)
            for thread in range(50)
        ]
        await asyncio.gather(*turns)
    by_thread: dict[str, list[str]] = {}
    for request in fake_dify.chat_requests:
        by_thread.setdefault(request["user"], []).append(request["query"])
    assert len(by_thread) == 50
    for user, queries in by_thread.items():
        thread = user.removeprefix("test:")
        assert queries == [f"{thread} turn {n}" for n in range(5)]
    conversations = {c.user: len(c.messages) for c in fake_dify.conversations.values()}
    assert set(conversations.values()) == {5}, "each thread stays in one conversation"


async def test_edits_are_paced_and_the_final_edit_is_exact(
    fake_dify: FakeDify, database_url: str
) -> None:
    chunks = [f"w{i} " for i in range(120)]
    fake_dify.script(chunks, delay=0.01)
    sink = RecordingSink(min_edit_interval=0.25)
    async with running_bridge(fake_dify.url, database_url) as rt:
        await rt.bridge.handle_message(incoming("t1", "go"), sink)
    assert sink.visible == "".join(chunks)
    assert 1 <= sink.edits <= 10, f"{sink.edits} edits for a ~1.2 s answer at 0.25 s pacing"


async def test_many_answers_share_one_budget_and_none_loses_its_end(
    fake_dify: FakeDify, database_url: str
) -> None:
    budget = EditBudget(per_minute=600, burst=2)  # 10 edits a second for everyone
    sinks = [RecordingSink(edit_budget=budget) for _ in range(20)]
    fake_dify.chunk_delay = 0.02
    async with running_bridge(fake_dify.url, database_url) as rt:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(
            *(rt.bridge.handle_message(incoming(f"t{i}", f"q{i}"), s) for i, s in enumerate(sinks))
        )
        elapsed = loop.time() - started
    total_edits = sum(s.edits for s in sinks)
    assert total_edits <= 2 + elapsed * 10 + 1, f"{total_edits} edits in {elapsed:.1f} s"
    for index, sink in enumerate(sinks):
        assert f"**q{index}**" in sink.visible, "every answer ends with its full text"
        assert sink.visible.rstrip().endswith("I remember.")


async def test_long_answer_continues_in_new_messages(
    fake_dify: FakeDify, database_url: str
) -> None:
    answer = "\n\n".join(f"Paragraph {i}: " + "lorem ipsum " * 12 for i in range(20))
    fake_dify.script(answer)
    sink = RecordingSink(max_len=300)
    async with running_bridge(fake_dify.url, database_url) as rt:
        await rt.bridge.handle_message(incoming("t1", "long"), sink)
    assert len(sink.messages) > 5
    assert sink.visible == answer


async def test_dify_failures_become_a_short_notice(fake_dify: FakeDify, database_url: str) -> None:
    async with running_bridge(fake_dify.url, database_url) as rt:
        fake_dify.fail_next(500, "internal_server_error", "boom")
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t1", "hi"), sink)
        assert sink.texts == [
            "⚠️ The assistant is unavailable right now. Please try again in a moment."
        ]
        fake_dify.script(["Half ", "an ", "answer"], error_after=2)
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t2", "hi"), sink)
        assert sink.visible.startswith("Half an \n\n⚠️ The assistant ran into an error")
        ok = RecordingSink()
        await rt.bridge.handle_message(incoming("t3", "still there?"), ok)
        assert "still there?" in ok.visible
    assert "Traceback" not in sink.visible


async def test_empty_and_oversize_messages_never_reach_dify(
    fake_dify: FakeDify, database_url: str
) -> None:
    async with running_bridge(fake_dify.url, database_url) as rt:
        empty, huge = RecordingSink(), RecordingSink()
        await rt.bridge.handle_message(incoming("t1", "   "), empty)
        await rt.bridge.handle_message(incoming("t1", "x" * 40_000), huge)
    assert fake_dify.chat_requests == []
    assert "Ask me anything" in empty.visible
    assert "40,000 characters" in huge.visible


async def test_shutdown_marks_a_running_answer_interrupted(
    fake_dify: FakeDify, database_url: str
) -> None:
    fake_dify.script([f"w{i} " for i in range(200)], delay=0.05)
    sink = RecordingSink()
    async with running_bridge(fake_dify.url, database_url) as rt:
        turn = asyncio.create_task(rt.bridge.handle_message(incoming("t1", "go"), sink))
        while not sink.messages:
            await asyncio.sleep(0.01)
        await rt.bridge.shutdown(grace=0.2)
        await asyncio.wait_for(asyncio.gather(turn, return_exceptions=True), 5)
        late = RecordingSink()
        await rt.bridge.handle_message(incoming("t2", "after"), late)
    assert "Interrupted" in sink.visible
    assert sink.visible.startswith("w0 w1")
    assert late.texts == [notices.INTERRUPTED], "a message during shutdown is told, not dropped"
    assert [r["query"] for r in fake_dify.chat_requests] == ["go"]


async def test_a_runaway_answer_fills_thirty_messages_without_repeating_or_skipping(
    fake_dify: FakeDify, database_url: str
) -> None:
    words = [f"w{i:05d} " for i in range(4000)]
    fake_dify.script(["".join(words)])
    sink = RecordingSink(max_len=200)
    async with running_bridge(fake_dify.url, database_url) as rt:
        await rt.bridge.handle_message(incoming("t1", "go"), sink)
    assert len(sink.messages) == 30
    notice = "\n\n_(The answer was too long and has been cut here.)_"
    assert sink.texts[-1].endswith(notice)
    shown = "".join(sink.texts)[: -len(notice)]
    assert "".join(words).startswith(shown), "the messages read on from one another"
    assert len(shown) > 29 * 150


async def test_a_404_that_is_not_about_the_conversation_keeps_it(
    fake_dify: FakeDify, database_url: str
) -> None:
    async with running_bridge(fake_dify.url, database_url) as rt:
        await rt.bridge.handle_message(incoming("t1", "first"), RecordingSink())
        before = await rt.store.get_thread("test:t1")
        fake_dify.fail_next(404, "not_found", "The requested URL was not found on the server.")
        sink = RecordingSink()
        await rt.bridge.handle_message(incoming("t1", "second"), sink)
        after = await rt.store.get_thread("test:t1")
    assert after == before, "a proxy's 404 must not replace the conversation"
    assert sink.visible.startswith("⚠️")
    assert len(fake_dify.chat_requests) == 2


async def test_a_message_waiting_its_turn_at_shutdown_is_told(
    fake_dify: FakeDify, database_url: str
) -> None:
    fake_dify.script([f"w{i} " for i in range(200)], delay=0.05)
    first, waiting = RecordingSink(), RecordingSink()
    async with running_bridge(fake_dify.url, database_url) as rt:
        running = asyncio.create_task(rt.bridge.handle_message(incoming("t1", "one"), first))
        while not first.messages:
            await asyncio.sleep(0.01)
        queued = asyncio.create_task(rt.bridge.handle_message(incoming("t1", "two"), waiting))
        await asyncio.sleep(0.05)
        await rt.bridge.shutdown(grace=0.2)
        await asyncio.wait_for(asyncio.gather(running, queued, return_exceptions=True), 5)
    assert waiting.texts == [notices.INTERRUPTED]
    assert [r["query"] for r in fake_dify.chat_requests] == ["one"]
