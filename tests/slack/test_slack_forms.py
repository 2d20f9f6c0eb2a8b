"""A workflow's form in a Slack thread, answered through the real slack-bolt app:
buttons styled as Dify says, fields in a modal, answered once, the answer in the thread."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dify_bridge.adapters.slack import SlackAdapter
from dify_bridge.config import parse_settings
from dify_bridge.core import notices
from dify_bridge.ops.runtime import open_runtime
from tests.fakes.chatflow import FakeChatflow, Form
from tests.fakes.slack import FakeMessage, FakeSlack

pytestmark = pytest.mark.reliability

DONE = "Here is the draft. Approved: sent."
NO_FIELDS = Form(inputs=())


@contextlib.asynccontextmanager
async def bot(slack: FakeSlack, dify: FakeChatflow, database: str) -> AsyncIterator[str]:
    """A running bot (runtime + Slack adapter); yields its events URL."""
    env = {
        "DIFY_API_URL": dify.url,
        "DIFY_API_KEY": "app-test",
        "DATABASE_URL": database,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "HOST": "127.0.0.1",
        "PORT": "0",
    }
    settings = parse_settings(env)
    assert settings.slack is not None
    async with open_runtime(settings) as runtime:
        adapter = SlackAdapter(settings.slack, runtime.bridge)
        await adapter.start()
        try:
            yield f"http://127.0.0.1:{adapter.port}/slack/events"
        finally:
            await runtime.bridge.shutdown(5)
            await adapter.stop()


def approval(dify: FakeChatflow, form: Form | None = None) -> None:
    dify.script(["Here is ", "the draft."])
    dify._flows[-1].steps += [form or Form(), " Approved: ", "sent."]


async def ask(slack: FakeSlack, url: str) -> tuple[str, FakeMessage]:
    """Mention the bot; returns the thread and the form's message once it is shown."""
    event = slack.user_message("C1", "draft it", mention=True, event_type="app_mention")
    status, _ = await slack.post_event(url, slack.event_callback(event))
    assert status == 200
    ts = str(event["ts"])
    await slack.wait_until(lambda: any(is_form(m) for m in slack.thread("C1", ts)))
    (form,) = [m for m in slack.thread("C1", ts) if is_form(m)]
    return ts, form


def is_form(message: FakeMessage) -> bool:
    return any(b["action_id"].startswith("dify_form:") for b in message.buttons())


async def click(slack: FakeSlack, url: str, form: FakeMessage, n: int, user: str = "U1") -> None:
    status, body = await slack.post_action(
        url, slack.block_action(form, f"dify_form:{n}", user=user)
    )
    assert status == 200, body


def answered(slack: FakeSlack, ts: str) -> bool:
    return any(m.visible == DONE for m in slack.thread("C1", ts))


async def test_a_form_is_answered_in_a_modal_and_the_answer_arrives_in_the_thread(
    fake_slack: FakeSlack, chatflow: FakeChatflow, tmp_path: Path
) -> None:
    slack = fake_slack
    approval(chatflow)
    async with bot(slack, chatflow, f"sqlite:///{tmp_path / 'b.db'}") as url:
        ts, form = await ask(slack, url)
        answer = slack.thread("C1", ts)[0]
        assert answer.visible.startswith("Here is the draft.")
        assert "*draft*" in str(form.blocks), "the form's content in mrkdwn"
        assert [(b["text"]["text"], b.get("style")) for b in form.buttons()] == [
            ("Approve", "primary"),
            ("Reject", "danger"),
        ]
        assert "Answer by" in str(form.blocks)

        await click(slack, url, form, 0, user="U2")
        await slack.wait_until(lambda: bool(slack.views))
        (view,) = slack.views
        assert view["callback_id"] == "dify_form" and view["blocks"][0]["block_id"] == "comment"
        status, _ = await slack.post_action(
            url, slack.view_submission(view, {"comment": "fine"}, user="U2")
        )
        assert status == 200
        await slack.wait_until(lambda: answered(slack, ts))

    (post,) = chatflow.form_posts
    assert post.json == {
        "inputs": {"comment": "fine"},
        "action": "approve",
        "user": f"slack:{slack.team_id}:C1:{ts}",
    }, "answered as the thread's Dify user, not the clicker"
    assert form.buttons() == [], "the buttons are gone"
    assert "chose *Approve*" in form.visible or "chose *Approve*" in str(form.blocks)


async def test_a_click_after_a_restart_and_a_double_click_submit_once(
    fake_slack: FakeSlack, chatflow: FakeChatflow, tmp_path: Path
) -> None:
    slack = fake_slack
    approval(chatflow, NO_FIELDS)
    database = f"sqlite:///{tmp_path / 'b.db'}"
    async with bot(slack, chatflow, database) as url:
        ts, form = await ask(slack, url)
    # both clicks on the form as it was shown: the second person had not seen the first
    first = slack.block_action(form, "dify_form:1")
    second = slack.block_action(form, "dify_form:0", user="U2")
    async with bot(slack, chatflow, database) as url:
        for payload in (first, second):
            assert (await slack.post_action(url, payload))[0] == 200
        await slack.wait_until(lambda: answered(slack, ts))
        await slack.wait_until(lambda: bool(slack.calls_to("chat.postEphemeral")))
    (post,) = chatflow.form_posts
    assert post.json["action"] == "reject"
    (told,) = slack.calls_to("chat.postEphemeral")
    assert told.args["user"] == "U2" and told.args["text"] == notices.FORM_TAKEN


async def test_two_replicas_given_the_click_submit_it_once(
    fake_slack: FakeSlack, chatflow: FakeChatflow, postgres_url: str
) -> None:
    slack = fake_slack
    approval(chatflow, NO_FIELDS)
    async with bot(slack, chatflow, postgres_url) as one, bot(slack, chatflow, postgres_url) as two:
        ts, form = await ask(slack, one)
        payload = slack.block_action(form, "dify_form:0")
        # behind a load balancer any replica may get a click: here the same click reaches
        # both, the one that did not show the form first
        for url in (two, one):
            assert (await slack.post_action(url, payload))[0] == 200
        await slack.wait_until(lambda: answered(slack, ts))
    assert len(chatflow.form_posts) == 1
    assert sum(1 for m in slack.thread("C1", ts) if m.visible == DONE) == 1


@pytest.mark.parametrize(
    ("status", "code", "line"),
    [
        (412, "human_input_form_submitted", notices.FORM_SUBMITTED),
        (412, "human_input_form_expired", notices.FORM_EXPIRED),
        (400, "invalid_form_data", notices.FORM_INVALID),
    ],
)
async def test_a_refused_answer_is_one_line_in_the_thread(
    status: int,
    code: str,
    line: str,
    fake_slack: FakeSlack,
    chatflow: FakeChatflow,
    tmp_path: Path,
) -> None:
    slack = fake_slack
    approval(chatflow, NO_FIELDS)
    async with bot(slack, chatflow, f"sqlite:///{tmp_path / 'b.db'}") as url:
        ts, form = await ask(slack, url)
        chatflow.fail_next_form(status, code)
        await click(slack, url, form, 0)
        await slack.wait_until(lambda: any(line in m.visible for m in slack.thread("C1", ts)))
    assert sum(1 for m in slack.thread("C1", ts) if line in m.visible) >= 1
