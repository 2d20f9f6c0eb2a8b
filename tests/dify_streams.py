"""The Dify client in tests: an HTTP client, a client on a fake Dify, its events read."""

from __future__ import annotations

import httpx

from dify_bridge.dify.client import DifyClient
from dify_bridge.dify.events import AnswerDelta, AnswerReplaced, StreamEvent


def client_for(url: str, http: httpx.AsyncClient, key: str = "app-test") -> DifyClient:
    return DifyClient(url, key, http, retry_base_delay=0.01)


async def collect(client: DifyClient, **kwargs: object) -> list[StreamEvent]:
    return [e async for e in client.stream_chat(query="hi", user="u1", **kwargs)]  # type: ignore[arg-type]


def answer_of(events: list[StreamEvent]) -> str:
    text = ""
    for event in events:
        if isinstance(event, AnswerDelta):
            text += event.text
        elif isinstance(event, AnswerReplaced):
            text = event.text
    return text
