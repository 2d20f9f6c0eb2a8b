"""An httpx client on the fake Dify of the ``fake_dify`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fake_dify.helpers import AUTH
from tests.fakes.dify import FakeDify


@pytest.fixture
async def client(fake_dify: FakeDify) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_dify.url, headers=AUTH, timeout=10) as c:
        yield c
