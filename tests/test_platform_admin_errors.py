"""Dify's errors an admin can act on reach a Slack or Discord thread in plain words.

Through slack-bolt and discord.py: the fake chatflow answers the question with
each code Dify raises before the stream; the thread reads the notice for it,
one WARNING names the code, and a plan's rate limit is not retried while a
busy moment (``too_many_requests``) is.
"""

from __future__ import annotations

import logging

import pytest

from dify_bridge.core import notices
from dify_bridge.errors import DifyError
from tests.fakes.chatflow import FakeChatflow
from tests.places import Place

pytestmark = pytest.mark.reliability

CODES = [
    (400, "provider_quota_exceeded"),
    (400, "provider_not_initialize"),
    (400, "model_currently_not_support"),
    (400, "app_unavailable"),
    (400, "conversation_completed"),
    (429, "rate_limit_error"),
]
GENERIC = notices.for_error(DifyError("no code"))


def notice_for(status: int, code: str) -> str:
    notice = notices.for_error(DifyError(f"Dify's words for {code}", status=status, code=code))
    assert notice != GENERIC, f"{code} has its own notice"
    return notice


@pytest.mark.parametrize(("status", "code"), CODES)
async def test_an_admin_error_reads_as_its_notice_in_the_thread(
    status: int, code: str, place: Place, chatflow: FakeChatflow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    chatflow.fail_next(status, code, f"Dify's words for {code}")
    notice = notice_for(status, code)
    async with place.running():
        await place.ask("hello")
        await place.ended("failed")

    assert place.texts() == [f"⚠️ {notice}"]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and code in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    assert len(chatflow.chat_posts) == 1, "never retried"


async def test_too_many_requests_is_retried_and_answered(
    place: Place, chatflow: FakeChatflow
) -> None:
    for _ in range(2):
        chatflow.fail_next(429, "too_many_requests", "Too many requests. Please try again later.")
    chatflow.script(["Made ", "it."])
    async with place.running():
        await place.ask("hello")
        await place.ended()
    assert len(chatflow.chat_posts) == 3


@pytest.mark.parametrize("code", ["provider_quota_exceeded", "model_currently_not_support"])
async def test_an_admin_error_mid_stream_reads_as_its_notice_under_the_text_so_far(
    code: str, place: Place, chatflow: FakeChatflow
) -> None:
    error = {"event": "error", "status": 400, "code": code, "message": f"Dify says {code}"}
    chatflow.script(["Partial ", "answer.", error])
    notice = notice_for(400, code)
    async with place.running():
        await place.ask("hello")
        await place.ended("failed")

    (text,) = place.texts()
    assert text.startswith("Partial answer.") and text.endswith(f"⚠️ {notice}"), text
    assert len(chatflow.chat_posts) == 1 and chatflow.resumes == [], "an error is not a cut"
