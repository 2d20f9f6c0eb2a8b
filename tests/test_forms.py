"""A chatflow that waits for a person: its form in the thread, answered once, and the
workflow's answer in the same thread (the engine, against a true-SSE chatflow fake)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from dify_bridge.adapters.console import ConsoleAdapter
from dify_bridge.core import notices

from .fakes.chatflow import FakeChatflow, Form, Until
from .support import RecordingSink, incoming, running_bridge

pytestmark = pytest.mark.reliability

THREAD = "test:t"


def approval(chatflow: FakeChatflow, form: Form | None = None) -> None:
    chatflow.script(["Here is ", "the draft."], citations=())
    chatflow._flows[-1].steps += [form or Form(), " Approved: ", "sent."]


async def test_a_form_is_answered_once_and_the_workflow_answers_in_the_same_thread(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    approval(chatflow)
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "draft it"), sink)
        answer, form_message = sink.texts
        assert answer == f"Here is the draft.\n\n{notices.FORM_BELOW}"
        assert "Please review the **draft**." in form_message
        assert "1. **Approve**" in form_message and "2. **Reject**" in form_message
        form = await rt.bridge.pending_form(THREAD)
        assert form is not None and [a.id for a in form.actions] == ["approve", "reject"]
        assert [f.name for f in form.fields] == ["comment"]

        await rt.bridge.handle_message(incoming("t", "hello?"), sink)
        assert sink.texts[-1] == notices.FORM_WAITING
        assert len(chatflow.chat_posts) == 1, "a message while the form waits is no question"

        said = await rt.bridge.submit_form(form.form_key, "approve", {"comment": "ok"}, "Ann", sink)
        assert said == ""
        (post,) = chatflow.form_posts
        assert post.json == {"inputs": {"comment": "ok"}, "action": "approve", "user": THREAD}
        assert sink.texts[-2] == notices.form_chosen("Ann", "Approve")
        final_key = list(sink.messages)[-1]
        assert sink.messages[final_key] == "Here is the draft. Approved: sent."
        assert await rt.bridge.is_answer(final_key), "the complete answer can be rated"
        assert await rt.bridge.pending_form(THREAD) is None

        again = await rt.bridge.submit_form(form.form_key, "reject", {}, "Bob", sink)
        assert again == notices.FORM_TAKEN
        assert len(chatflow.form_posts) == 1, "a second click never submits"

        chatflow.script(["Next."])
        await rt.bridge.handle_message(incoming("t", "thanks"), sink)
        assert sink.texts[-1] == "Next."


async def test_a_click_after_a_restart_finds_the_form_in_the_store(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    approval(chatflow)
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "draft it"), sink)
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        form = await rt.bridge.pending_form(THREAD)
        assert form is not None
        later = RecordingSink()
        assert await rt.bridge.submit_form(form.form_key, "reject", {}, "Ann", later) == ""
        assert later.texts[-1] == "Here is the draft. Approved: sent."
        (post,) = chatflow.form_posts
        assert post.json["inputs"] == {"comment": ""}, "an empty paragraph is still sent"


@pytest.mark.parametrize(
    ("status", "code", "line", "retry"),
    [
        (412, "human_input_form_submitted", notices.FORM_SUBMITTED, False),
        (412, "human_input_form_expired", notices.FORM_EXPIRED, False),
        (400, "invalid_form_data", notices.FORM_INVALID, True),
        (400, "human_input_form_timeout", notices.FORM_TIMEOUT, False),
    ],
)
async def test_each_refusal_of_a_form_answer_is_one_line(
    status: int, code: str, line: str, retry: bool, chatflow: FakeChatflow, tmp_path: Path
) -> None:
    approval(chatflow)
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "draft it"), sink)
        form = await rt.bridge.pending_form(THREAD)
        assert form is not None
        chatflow.fail_next_form(status, code)
        assert await rt.bridge.submit_form(form.form_key, "approve", {}, "Ann", sink) == line
        assert sink.texts[-1] == f"⚠️ {line}"
        assert (await rt.bridge.pending_form(THREAD) is not None) is retry
        if retry:
            assert await rt.bridge.submit_form(form.form_key, "approve", {}, "Ann", sink) == ""
            assert sink.texts[-1] == "Here is the draft. Approved: sent."


async def test_the_fake_refuses_as_dify_does(chatflow: FakeChatflow, tmp_path: Path) -> None:
    select = {"type": "select", "output_variable_name": "level", "options": ["low", "high"]}
    approval(chatflow, Form(inputs=(select,)))
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "draft it"), sink)
        form = await rt.bridge.pending_form(THREAD)
        assert form is not None and form.fields[0].options == ("low", "high")
        assert "(one of: low, high)" in sink.texts[-1]
        bad = await rt.bridge.submit_form(form.form_key, "approve", {"level": "mid"}, "A", sink)
        assert bad == notices.FORM_INVALID
        (state,) = chatflow.forms.values()
        chatflow.expire(state)
        expired = await rt.bridge.submit_form(form.form_key, "approve", {"level": "low"}, "A", sink)
        assert expired == notices.FORM_EXPIRED
        assert sink.texts[-1] == f"⚠️ {notices.FORM_EXPIRED}"


async def test_a_form_sent_by_email_says_where_to_answer_it(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    approval(chatflow, Form(by_email=True))
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "draft it"), sink)
        assert notices.FORM_BY_EMAIL in sink.texts[-1]
        assert "**Approve**" not in sink.texts[-1]
        await rt.bridge.handle_message(incoming("t", "done?"), sink)
        assert sink.texts[-1] == notices.FORM_BY_EMAIL
        assert len(chatflow.chat_posts) == 1


async def test_a_timeout_in_the_continuation_is_said_once(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    approval(chatflow)
    steps = chatflow._flows[-1].steps
    # the event reaches only a listener: the run waits until the bridge listens again
    steps[3:3] = [Until(lambda: bool(chatflow.resumes)), {"event": "human_input_form_timeout"}]
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "draft it"), sink)
        form = await rt.bridge.pending_form(THREAD)
        assert form is not None
        await rt.bridge.submit_form(form.form_key, "approve", {}, "Ann", sink)
        final = sink.texts[-1]
        assert final.count(notices.FORM_TIMEOUT) == 1 and final.endswith("Approved: sent.")


async def test_two_replicas_given_the_same_click_submit_it_once(
    chatflow: FakeChatflow, postgres_url: str
) -> None:
    approval(chatflow)
    sink = RecordingSink()
    async with (
        running_bridge(chatflow.url, postgres_url) as one,
        running_bridge(chatflow.url, postgres_url) as other,
    ):
        await one.bridge.handle_message(incoming("t", "draft it"), sink)
        form = await other.bridge.pending_form(THREAD)
        assert form is not None
        sinks = [RecordingSink() for _ in range(6)]
        said = await asyncio.gather(
            *(
                (one, other)[n % 2].bridge.submit_form(form.form_key, "approve", {}, "A", s)
                for n, s in enumerate(sinks)
            )
        )
    assert sorted(said) == [""] + [notices.FORM_TAKEN] * 5
    assert len(chatflow.form_posts) == 1, "one submit, whichever replica got the click"
    (answered,) = (s for s, line in zip(sinks, said, strict=True) if line == "")
    assert answered.texts[-1] == "Here is the draft. Approved: sent."


async def test_the_console_shows_the_form_and_choose_answers_it(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    out = io.StringIO()
    approval(chatflow)
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        console = ConsoleAdapter(rt.bridge, source=io.StringIO(), out=out)
        assert await console.handle_line("draft it")
        assert await console.handle_line("/choose 3")
        assert await console.handle_line("/choose 1 looks good")
    shown = out.getvalue()
    assert "1. **Approve**" in shown and "Answer with `/choose N`." in shown
    assert "(no such choice" in shown
    (post,) = chatflow.form_posts
    assert post.json["action"] == "approve" and post.json["inputs"] == {"comment": "looks good"}
    assert "Approved: sent." in shown
