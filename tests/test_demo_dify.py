"""The offline demo's small Dify (dify_bridge.demo.fake_dify), over real HTTP and SSE."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from dify_bridge.demo.fake_dify import FakeDify, demo_answer

KEY = "app-offline-demo"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    fake = FakeDify(api_keys=(KEY,), chunk_delay=0.01)
    url = await fake.start()
    try:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
            yield http
    finally:
        await fake.stop()


async def ask(http: httpx.AsyncClient, query: str, conversation_id: str = "") -> list[Any]:
    body = {"query": query, "inputs": {}, "user": "u", "response_mode": "streaming"}
    body["conversation_id"] = conversation_id
    async with aconnect_sse(http, "POST", "/chat-messages", json=body) as source:
        assert source.response.status_code == 200
        return [json.loads(sse.data) async for sse in source.aiter_sse() if sse.data]


async def test_answers_stream_in_a_remembered_conversation(client: httpx.AsyncClient) -> None:
    first = await ask(client, "hello")
    assert [e["event"] for e in first][-1] == "message_end"
    assert len(first) > 10, "the answer comes in many small chunks"
    assert "".join(e.get("answer", "") for e in first) == demo_answer(["hello"])
    assert first[-1]["metadata"]["usage"]["total_tokens"] > 0
    conversation = first[0]["conversation_id"]
    second = await ask(client, "again", conversation)
    assert {e["conversation_id"] for e in second} == {conversation}
    assert "".join(e.get("answer", "") for e in second) == demo_answer(["hello", "again"])


async def test_feedback_and_a_deleted_conversation(client: httpx.AsyncClient) -> None:
    events = await ask(client, "hello")
    message, conversation = events[-1]["message_id"], events[-1]["conversation_id"]
    feedback = f"/messages/{message}/feedbacks"
    revoke = await client.post(feedback, json={"rating": None, "user": "u"})
    assert revoke.status_code == 400, "nothing to revoke yet"
    assert (await client.post(feedback, json={"rating": "like", "user": "u"})).status_code == 200
    assert (await client.post(feedback, json={"rating": None, "user": "u"})).status_code == 200
    other = await client.post(feedback, json={"rating": "like", "user": "someone-else"})
    assert other.status_code == 404
    gone = await client.request("DELETE", f"/conversations/{conversation}", json={"user": "u"})
    assert gone.json() == {"result": "success"}
    body = {"query": "hi", "inputs": {}, "user": "u", "response_mode": "streaming"}
    again = await client.post("/chat-messages", json=body | {"conversation_id": conversation})
    assert again.status_code == 404 and again.json()["code"] == "not_found"
    unknown = body | {"conversation_id": str(uuid.uuid4())}
    assert (await client.post("/chat-messages", json=unknown)).status_code == 404


async def test_stop_ends_the_answer_early(client: httpx.AsyncClient) -> None:
    body = {"query": "hello", "inputs": {}, "user": "u", "response_mode": "streaming"}
    events: list[Any] = []
    async with aconnect_sse(client, "POST", "/chat-messages", json=body) as source:
        async for sse in source.aiter_sse():
            events.append(json.loads(sse.data))
            if len(events) == 2:
                stop = f"/chat-messages/{events[0]['task_id']}/stop"
                assert (await client.post(stop, json={"user": "u"})).status_code == 200
    assert events[-1]["event"] == "message_end"
    assert len(events) < len(await ask(client, "hello"))


async def test_errors_have_difys_shape(client: httpx.AsyncClient) -> None:
    wrong = await client.get("/parameters", headers={"Authorization": "Bearer app-wrong"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad = await client.post("/chat-messages", json={"inputs": {}, "user": "u"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_param"
    info, parameters = (await client.get("/info")).json(), (await client.get("/parameters")).json()
    assert info["mode"] == "chat" and parameters["user_input_form"] == []
