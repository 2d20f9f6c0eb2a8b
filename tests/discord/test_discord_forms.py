"""A workflow's form in a Discord thread, answered through the real discord.py client:
buttons styled as Dify says, fields in a modal, answered once, the answer in the thread."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from dify_bridge.adapters.discord.adapter import DiscordAdapter
from dify_bridge.adapters.discord.forms import TOO_MANY_FIELDS
from dify_bridge.core import notices
from tests.discord.conftest import Server
from tests.fakes.chatflow import FakeChatflow, Form
from tests.fakes.discord import EPHEMERAL_FLAG
from tests.support import running_bridge

DONE = "Here is the draft. Approved: sent."
NO_FIELDS = Form(inputs=())


@contextlib.asynccontextmanager
async def bot(server: Server, dify: FakeChatflow) -> AsyncIterator[DiscordAdapter]:
    async with running_bridge(dify.url, server.db_path, **server.discord.env()) as rt:
        assert rt.settings.discord is not None
        adapter = DiscordAdapter(
            rt.settings.discord, rt.bridge, ready_timeout=10, guild_ready_timeout=0.05
        )
        await adapter.start()
        try:
            yield adapter
        finally:
            await rt.bridge.shutdown(1.0)
            await adapter.stop()


def approval(dify: FakeChatflow, form: Form | None = None) -> None:
    dify.script(["Here is ", "the draft."])
    dify._flows[-1].steps += [form or Form(), " Approved: ", "sent."]


def form_buttons(server: Server, message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in server.discord.buttons(message) if b["custom_id"].startswith("dify_form:")]


async def ask(server: Server) -> tuple[int, dict[str, Any]]:
    """Alice asks; returns the thread and the form's message once it is shown."""
    await server.ask("draft it")
    discord = server.discord

    def form() -> dict[str, Any] | None:
        for thread in discord.threads():
            for message in discord.channel_messages(int(thread["id"])):
                if form_buttons(server, message):
                    return message
        return None

    await discord.wait_until(lambda: form() is not None, timeout=15, what="the form")
    message = form()
    assert message is not None
    return int(message["channel_id"]), message


def answered(server: Server, thread: int) -> bool:
    return DONE in server.discord.contents(thread)


async def test_a_form_is_answered_by_a_button_and_the_answer_arrives_in_the_thread(
    server: Server, chatflow: FakeChatflow
) -> None:
    approval(chatflow, NO_FIELDS)
    async with bot(server, chatflow):
        thread, form = await ask(server)
        assert server.discord.contents(thread)[0].startswith("Here is the draft.")
        assert "Please review the **draft**." in form["content"]
        assert "Answer by" in form["content"]
        buttons = form_buttons(server, form)
        assert [(b["label"], b["style"]) for b in buttons] == [("Approve", 1), ("Reject", 4)]
        assert all(len(b["custom_id"]) <= 100 for b in buttons)

        clicked = await server.discord.click(form, server.bob, buttons[1]["custom_id"])
        await server.discord.wait_until(lambda: answered(server, thread), timeout=15, what=DONE)
        callback = server.discord.callback_for(clicked)
        assert callback is not None and callback.type == 6, "deferred at once"

    (post,) = chatflow.form_posts
    assert post.json["action"] == "reject" and post.json["inputs"] == {}
    shown = server.discord.messages[int(form["id"])]
    assert shown.get("components") == [], "the buttons are gone"
    assert "**Bob** chose **Reject**" in shown["content"]


async def test_a_form_with_a_field_is_answered_through_a_modal(
    server: Server, chatflow: FakeChatflow
) -> None:
    approval(chatflow)
    async with bot(server, chatflow):
        thread, form = await ask(server)
        (approve, _) = form_buttons(server, form)
        clicked = await server.discord.click(form, server.bob, approve["custom_id"])
        await server.discord.wait_until(
            lambda: server.discord.modal_for(clicked) is not None, timeout=10, what="the modal"
        )
        modal = server.discord.modal_for(clicked)
        assert modal is not None
        (row,) = modal["components"]
        (text,) = row["components"]
        assert text["style"] == 2 and text["label"] == "Comment", "a paragraph: long text"
        await server.discord.submit_modal(clicked, server.bob, {text["custom_id"]: "fine"})
        await server.discord.wait_until(lambda: answered(server, thread), timeout=15, what=DONE)

    (post,) = chatflow.form_posts
    assert post.json["inputs"] == {"comment": "fine"} and post.json["action"] == "approve"
    assert post.json["user"].startswith("discord:"), "answered as the thread's Dify user"
    assert server.discord.buttons(int(form["id"])) == []


async def test_a_double_click_submits_once_and_tells_the_second_clicker(
    server: Server, chatflow: FakeChatflow
) -> None:
    approval(chatflow, NO_FIELDS)
    async with bot(server, chatflow):
        thread, form = await ask(server)
        (approve, reject) = form_buttons(server, form)
        await server.discord.click(form, server.alice, approve["custom_id"])
        second = await server.discord.click(form, server.bob, reject["custom_id"])
        await server.discord.wait_until(lambda: answered(server, thread), timeout=15, what=DONE)
        await server.discord.wait_until(
            lambda: bool(server.discord.followups.get(second)), timeout=10, what="the notice"
        )
    assert len(chatflow.form_posts) == 1
    assert chatflow.form_posts[0].json["action"] == "approve"
    (told,) = server.discord.followups[second]
    assert told["content"] == notices.FORM_TAKEN and told["flags"] & EPHEMERAL_FLAG
    assert server.discord.contents(thread).count(DONE) == 1


async def test_a_click_after_a_restart_continues_in_the_same_thread_once(
    server: Server, chatflow: FakeChatflow
) -> None:
    approval(chatflow, NO_FIELDS)
    async with bot(server, chatflow):
        thread, form = await ask(server)
    (approve, reject) = form_buttons(server, form)
    async with bot(server, chatflow):  # a new process on the same store
        await server.discord.click(form, server.bob, reject["custom_id"])
        second = await server.discord.click(form, server.alice, approve["custom_id"])
        await server.discord.wait_until(lambda: answered(server, thread), timeout=15, what=DONE)
        await server.discord.wait_until(
            lambda: bool(server.discord.followups.get(second)), timeout=10, what="the notice"
        )
    (post,) = chatflow.form_posts
    assert post.json["action"] == "reject"
    assert [t["id"] for t in server.discord.threads()] == [str(thread)], "the same thread"
    assert server.discord.contents(thread).count(DONE) == 1
    assert server.discord.followups[second][0]["content"] == notices.FORM_TAKEN


async def test_a_form_with_more_fields_than_a_modal_holds_says_to_answer_it_in_dify(
    server: Server, chatflow: FakeChatflow
) -> None:
    fields = tuple(
        {"type": "paragraph", "output_variable_name": f"f{n}", "placeholder": f"Field {n}"}
        for n in range(6)
    )
    approval(chatflow, Form(inputs=fields))
    async with bot(server, chatflow):
        await server.ask("draft it")
        discord = server.discord

        def shown() -> bool:
            return any(
                TOO_MANY_FIELDS in text
                for thread in discord.threads()
                for text in discord.contents(int(thread["id"]))
            )

        await discord.wait_until(shown, timeout=15, what="the form")
        (thread,) = discord.threads()
        (message,) = [
            m
            for m in discord.channel_messages(int(thread["id"]))
            if TOO_MANY_FIELDS in m["content"]
        ]
        assert not form_buttons(server, message)
