"""The fake Dify: start and stop, auth, keys, streaming, the default answers."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fake_dify.helpers import AUTH, KEY, answer_of, ask, chat_body, data_events, kinds, stream
from tests.fakes.dify import FakeDify, split_chunks

# --------------------------------------------------------------------- basics


def test_split_chunks_round_trip() -> None:
    for text in [
        "",
        "Hello",
        "Hello world",
        "  lead\n\n- item **bold**\n",
        "averyveryverylongword",
    ]:
        chunks = split_chunks(text)
        assert "".join(chunks) == text
        assert all(chunks)
    assert len(split_chunks("one two three four")) == 4


async def test_start_returns_url_and_stop_is_idempotent() -> None:
    fake = FakeDify()
    url = await fake.start()
    assert url == fake.url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert fake.port > 0
    await fake.stop()
    await fake.stop()


async def test_unknown_mode_rejected() -> None:
    with pytest.raises(ValueError):
        FakeDify(mode="nope")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Authorization header must be provided and start with 'Bearer'"),
        ({"Authorization": "Bearer app-wrong"}, "Access token is invalid"),
    ],
)
async def test_auth_required(fake_dify: FakeDify, headers: dict[str, str], message: str) -> None:
    async with httpx.AsyncClient(base_url=fake_dify.url, headers=headers) as c:
        for method, path in [("GET", "/parameters"), ("POST", "/chat-messages")]:
            r = await c.request(method, path, json=chat_body())
            assert r.status_code == 401
            assert r.json() == {"code": "unauthorized", "message": message, "status": 401}
    assert fake_dify.conversations == {}


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/nope")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


async def test_several_keys_are_separate_apps() -> None:
    async with (
        FakeDify(api_keys=["app-a", "app-b"]) as fake,
        httpx.AsyncClient(base_url=fake.url, headers={"Authorization": "Bearer app-a"}) as a,
        httpx.AsyncClient(base_url=fake.url, headers={"Authorization": "Bearer app-b"}) as b,
    ):
        events = await ask(a, chat_body())
        cid = events[0]["conversation_id"]
        r = await b.post("/chat-messages", json=chat_body(conversation_id=cid))
        assert r.status_code == 404
        assert fake.conversations[cid].api_key == "app-a"


# --------------------------------------------------------------------- streaming


async def test_stream_basic_chat(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    async with aconnect_sse(client, "POST", "/chat-messages", json=chat_body("Hi there")) as src:
        assert src.response.headers["content-type"].startswith("text/event-stream")
        raw = [sse async for sse in src.aiter_sse()]
    events = data_events(raw)
    assert kinds(events)[-1] == "message_end"
    assert set(kinds(events)) == {"message", "message_end"}
    first = events[0]
    for e in events:
        assert e["task_id"] == first["task_id"]
        assert e["message_id"] == first["message_id"]
        assert e["conversation_id"] == first["conversation_id"]
        assert isinstance(e["created_at"], int)
    for e in events[:-1]:
        assert e["id"] == first["message_id"]
    answer = answer_of(events)
    assert "You said: **Hi there**" in answer
    assert len(events) > 10  # streamed in small chunks
    usage = events[-1]["metadata"]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert events[-1]["metadata"]["retriever_resources"] == []
    uuid.UUID(first["conversation_id"])

    conv = fake_dify.conversations[first["conversation_id"]]
    assert (conv.api_key, conv.user) == (KEY, "u1")
    assert conv.turns == [("Hi there", answer, first["message_id"])]
    msg = fake_dify.messages[first["message_id"]]
    assert (msg.conversation_id, msg.user, msg.answer, msg.rating) == (
        conv.id,
        "u1",
        answer,
        None,
    )
    assert fake_dify.active_streams == 0


async def test_default_answer_proves_context(client: httpx.AsyncClient) -> None:
    first = await ask(client, chat_body("What is Dify?"))
    cid = first[0]["conversation_id"]
    second = await ask(client, chat_body("And the API?", conversation_id=cid))
    assert second[0]["conversation_id"] == cid
    text = answer_of(second)
    assert "turn **2**" in text
    assert "Earlier you asked: _What is Dify?_" in text
    third = await ask(client, chat_body("Thanks", conversation_id=cid))
    text = answer_of(third)
    assert "turn **3**" in text and "And the API?" in text
    # a conversation_id that is missing altogether also starts a new one
    body = chat_body("fresh")
    del body["conversation_id"]
    other = await ask(client, body)
    assert other[0]["conversation_id"] != cid
    assert "Hello! You said: **fresh**" in answer_of(other)


async def test_chunks_arrive_over_time() -> None:
    async with FakeDify(chunk_delay=0.05) as fake:
        fake.script(["a", "b", "c", "d"])
        async with httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c:
            stamps: list[float] = []
            async with aconnect_sse(c, "POST", "/chat-messages", json=chat_body()) as src:
                async for sse in src.aiter_sse():
                    if sse.json()["event"] == "message":
                        stamps.append(time.monotonic())
    assert len(stamps) == 4
    assert stamps[-1] - stamps[0] >= 0.12


async def test_pings_are_sent_while_waiting() -> None:
    async with FakeDify(ping_interval=0.05) as fake:
        fake.script(["slow", " answer"], delay=0.3)
        async with httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c:
            raw = await stream(c, chat_body())
    pings = [e for e in raw if e.event == "ping"]
    assert len(pings) >= 3
    assert all(p.data == "" for p in pings)
    assert answer_of(data_events(raw)) == "slow answer"


async def test_raw_framing(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.script(["x"])
    async with client.stream("POST", "/chat-messages", json=chat_body()) as r:
        body = (await r.aread()).decode()
    frames = [f for f in body.split("\n\n") if f]
    assert all(f.startswith("data: {") for f in frames)
    assert body.endswith("\n\n")
