"""Dify's errors that a person can act on read as what is wrong and who can fix it.

Through real sockets: the fake chatflow answers ``POST /chat-messages`` with
each code Dify's controller raises before the stream, and sends the codes
Dify's stream converter puts into a mid-stream ``error`` event.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dify_bridge.ops.runtime import Runtime

from .fakes.chatflow import FakeChatflow
from .support import RecordingSink, incoming, running_bridge

pytestmark = pytest.mark.reliability

SAYS = {
    "provider_quota_exceeded": ("used up its quota", "An admin of the Dify workspace"),
    "provider_not_initialize": ("no valid credentials", "An admin of the Dify workspace"),
    "model_currently_not_support": ("not available on the current Dify plan", "An admin"),
    "app_unavailable": ("app in Dify is unavailable", "An admin needs to check"),
    "conversation_completed": ("closed on the assistant's side", "start a new conversation"),
    "rate_limit_error": ("request limit of its Dify plan", "an admin can raise the limit"),
}
"""What each notice must tell: the problem, and who can fix it."""

BEFORE_THE_STREAM = [(400, code) for code in SAYS if code != "rate_limit_error"] + [
    (429, "rate_limit_error")
]
IN_THE_STREAM = [
    "provider_quota_exceeded",
    "provider_not_initialize",
    "model_currently_not_support",
]
"""The codes Dify's ``_error_to_stream_response`` sends mid-stream (besides invalid_param
and completion_request_error, which are not an admin's)."""


async def still_answers(rt: Runtime, chatflow: FakeChatflow) -> None:
    chatflow.script(["Back ", "again."])
    other = RecordingSink()
    await rt.bridge.handle_message(incoming("other", "and now?"), other)
    assert other.texts == ["Back again."]


def warnings_naming(caplog: pytest.LogCaptureFixture, code: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and code in r.getMessage()
    ]


@pytest.mark.parametrize(("status", "code"), BEFORE_THE_STREAM)
async def test_an_error_before_the_stream_says_what_is_wrong_and_who_can_fix_it(
    status: int, code: str, chatflow: FakeChatflow, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chatflow.fail_next(status, code, f"Dify's own words for {code}")
    sink = RecordingSink()
    caplog.set_level(logging.INFO)
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "hello"), sink)

        (text,) = sink.texts
        assert text.startswith("⚠️ ")
        for words in SAYS[code]:
            assert words in text, text
        assert len(chatflow.chat_posts) == 1, "never retried (a quota does not pass in seconds)"
        assert len(warnings_naming(caplog, code)) == 1, "one WARNING line with Dify's code"

        await still_answers(rt, chatflow)


@pytest.mark.parametrize("code", IN_THE_STREAM)
async def test_an_error_event_mid_stream_says_what_is_wrong_under_the_text_so_far(
    code: str, chatflow: FakeChatflow, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    error = {"event": "error", "status": 400, "code": code, "message": f"Dify says {code}"}
    chatflow.script(["Partial ", "answer ", error])
    sink = RecordingSink()
    caplog.set_level(logging.INFO)
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "hello"), sink)

        (text,) = sink.texts
        answer, _, notice = text.partition("\n\n⚠️ ")
        assert answer == "Partial answer "
        for words in SAYS[code]:
            assert words in notice, notice
        assert len(chatflow.chat_posts) == 1 and chatflow.resumes == [], "an error is not a cut"
        assert len(warnings_naming(caplog, code)) == 1
        await still_answers(rt, chatflow)


async def test_too_many_requests_is_still_retried_with_backoff(
    chatflow: FakeChatflow, tmp_path: Path
) -> None:
    chatflow.fail_next(429, "too_many_requests", "Too many requests. Please try again later.")
    chatflow.fail_next(429, "too_many_requests", "Too many requests. Please try again later.")
    chatflow.script(["Made ", "it."])
    sink = RecordingSink()
    async with running_bridge(chatflow.url, tmp_path / "b.db") as rt:
        await rt.bridge.handle_message(incoming("t", "hello"), sink)
    assert sink.texts == ["Made it."]
    assert len(chatflow.chat_posts) == 3
