"""Requests and event readers the fake Dify's tests share."""

from __future__ import annotations

from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

KEY = "app-test"
AUTH = {"Authorization": f"Bearer {KEY}"}


def chat_body(
    query: str = "hi", user: str = "u1", conversation_id: str = "", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": query,
        "inputs": {},
        "user": user,
        "response_mode": "streaming",
        "conversation_id": conversation_id,
    }
    body.update(extra)
    return body


async def stream(client: httpx.AsyncClient, body: dict[str, Any]) -> list[ServerSentEvent]:
    async with aconnect_sse(client, "POST", "/chat-messages", json=body) as source:
        assert source.response.status_code == 200
        return [sse async for sse in source.aiter_sse()]


def data_events(events: list[ServerSentEvent]) -> list[dict[str, Any]]:
    return [e.json() for e in events if e.event == "message" and e.data]


def answer_of(events: list[dict[str, Any]], kind: str = "message") -> str:
    text = ""
    for e in events:
        if e["event"] == kind:
            text += e["answer"]
        elif e["event"] == "message_replace":
            text = e["answer"]
    return text


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


async def ask(client: httpx.AsyncClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    return data_events(await stream(client, body))
