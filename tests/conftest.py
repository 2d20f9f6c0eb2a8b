"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.chatflow import FakeChatflow
from tests.fakes.dify import FakeDify

pytest_plugins = ("tests.pg", "tests.places")


@pytest.fixture
async def fake_dify() -> AsyncIterator[FakeDify]:
    """A fake Dify Service API on 127.0.0.1 (random port); ``fake_dify.url`` ends in ``/v1``.

    It accepts the key ``app-test``; script answers with ``fake_dify.script(...)``.
    """
    fake = FakeDify(host="127.0.0.1", port=0)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def chatflow() -> AsyncIterator[FakeChatflow]:
    """A fake chatflow app (workflow runs, resumable streams, Human Input forms) on 127.0.0.1."""
    fake = FakeChatflow()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
