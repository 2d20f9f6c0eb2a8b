"""The fake Dify Service API, exercised over real HTTP with httpx and httpx-sse."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from dify_bridge.demo.fake_dify import FakeDify, split_chunks

KEY = "app-test"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def client(fake_dify: FakeDify) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_dify.url, headers=AUTH, timeout=10) as c:
        yield c


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


# --------------------------------------------------------------------- conversations


async def test_conversation_errors(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    events = await ask(client, chat_body(user="alice"))
    cid = events[0]["conversation_id"]

    r = await client.post("/chat-messages", json=chat_body(user="bob", conversation_id=cid))
    assert r.status_code == 404
    assert r.json() == {"code": "not_found", "message": "Conversation Not Exists.", "status": 404}

    r = await client.post("/chat-messages", json=chat_body(conversation_id=str(uuid.uuid4())))
    assert r.status_code == 404

    r = await client.post("/chat-messages", json=chat_body(conversation_id="not-a-uuid"))
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_param"

    fake_dify.delete_conversation(cid)
    r = await client.post("/chat-messages", json=chat_body(user="alice", conversation_id=cid))
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    assert cid in fake_dify.deleted


async def test_create_conversation_helper(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    conv = fake_dify.create_conversation("u1", queries=["one", "two"])
    events = await ask(client, chat_body("three", conversation_id=conv.id))
    assert "turn **3**" in answer_of(events)
    assert [q for q, _, _ in conv.turns] == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"query": None}, "query"),
        ({"query": ""}, "query"),
        ({"query": 42}, "query"),
        ({"user": None}, "user"),
        ({"user": ""}, "user"),
        ({"inputs": None}, "inputs"),
        ({"response_mode": "sometimes"}, "response_mode"),
    ],
)
async def test_validation(client: httpx.AsyncClient, change: dict[str, Any], fragment: str) -> None:
    body = chat_body()
    for k, v in change.items():
        if v is None:
            del body[k]
        else:
            body[k] = v
    r = await client.post("/chat-messages", json=body)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_param"
    assert fragment in r.json()["message"]


async def test_bad_json_body(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/chat-messages", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400


async def test_required_inputs(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.parameters["user_input_form"] = [
        {"text-input": {"label": "Name", "variable": "name", "required": True, "default": ""}},
        {
            "select": {
                "label": "Team",
                "variable": "team",
                "required": False,
                "default": "",
                "options": ["sales", "support"],
            }
        },
    ]
    r = await client.post("/chat-messages", json=chat_body())
    assert r.status_code == 400
    assert r.json()["message"] == "name is required in input form"
    r = await client.post("/chat-messages", json=chat_body(inputs={"name": "A", "team": "hr"}))
    assert r.status_code == 400
    assert "team" in r.json()["message"]
    events = await ask(client, chat_body(inputs={"name": "A", "team": "sales"}))
    assert events[-1]["event"] == "message_end"
    assert fake_dify.conversations[events[0]["conversation_id"]].inputs["name"] == "A"


# --------------------------------------------------------------------- modes


async def test_blocking_mode(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.script("Blocking answer", citations=[{"document_name": "FAQ", "content": "c"}])
    r = await client.post("/chat-messages", json=chat_body(response_mode="blocking"))
    assert r.status_code == 200
    body = r.json()
    assert body["answer"] == "Blocking answer"
    assert body["mode"] == "chat"
    assert body["metadata"]["retriever_resources"][0]["document_name"] == "FAQ"
    assert fake_dify.messages[body["message_id"]].answer == "Blocking answer"
    # missing response_mode means blocking, like Dify
    b = chat_body(conversation_id=body["conversation_id"])
    del b["response_mode"]
    r = await client.post("/chat-messages", json=b)
    assert r.headers["content-type"].startswith("application/json")
    assert "turn **2**" in r.json()["answer"]


@pytest.mark.parametrize("mode", ["completion", "workflow"])
async def test_non_chat_apps_rejected(mode: str) -> None:
    async with FakeDify(mode=mode) as fake, httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c:
        r = await c.post("/chat-messages", json=chat_body())
        assert r.status_code == 400
        assert r.json()["code"] == "not_chat_app"
        info = (await c.get("/info")).json()
        assert info["mode"] == mode


async def test_agent_chat() -> None:
    async with (
        FakeDify(mode="agent-chat") as fake,
        httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c,
    ):
        r = await c.post("/chat-messages", json=chat_body(response_mode="blocking"))
        assert r.status_code == 400
        assert r.json()["code"] == "invalid_param"

        fake.script(
            "It is sunny.",
            agent_thoughts=[
                {"tool": "weather", "tool_input": '{"weather": {"city": "Paris"}}'},
                {"observation": "sunny, 21C"},
            ],
        )
        events = await ask(c, chat_body("weather?"))
        assert "message" not in kinds(events)
        assert answer_of(events, "agent_message") == "It is sunny."
        thoughts = [e for e in events if e["event"] == "agent_thought"]
        assert [t["position"] for t in thoughts[:2]] == [1, 2]
        assert thoughts[0]["tool"] == "weather"
        # like Dify, the last thought is repeated with the full answer as its thought
        assert thoughts[-1]["thought"] == "It is sunny."
        assert kinds(events).index("agent_thought") < kinds(events).index("agent_message")
        assert events[-1]["event"] == "message_end"
        msg = fake.messages[events[0]["message_id"]]
        assert msg.agent_thoughts[0]["tool"] == "weather"


async def test_advanced_chat_event_order() -> None:
    async with (
        FakeDify(mode="advanced-chat") as fake,
        httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c,
    ):
        fake.script("Flow answer")
        events = await ask(c, chat_body())
        k = kinds(events)
        assert k[0] == "workflow_started"
        assert "node_started" in k and "node_finished" in k
        assert k[-2:] == ["message_end", "workflow_finished"]
        assert answer_of(events) == "Flow answer"
        assert events[-1]["data"]["status"] == "succeeded"
        assert all(e["conversation_id"] == events[0]["conversation_id"] for e in events)

        fake.script("Flow answer", workflow_finished_first=True)
        k = kinds(await ask(c, chat_body()))
        assert k.index("workflow_finished") < k.index("message_end") == len(k) - 1

        fake.script("Partial", workflow_error="LLM node failed")
        events = await ask(c, chat_body())
        k = kinds(events)
        assert "message_end" not in k
        wf = next(e for e in events if e["event"] == "workflow_finished")
        assert wf["data"]["status"] == "failed"
        assert wf["data"]["error"] == "LLM node failed"
        assert k[-1] == "error"


# --------------------------------------------------------------------- scripting


async def test_script_options(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.script(
        ["Hel", "lo"],
        events=[
            {"event": "reasoning_chunk", "text": "hmm"},
            {"event": "ping"},
            {"raw": 'event: something_new\ndata: {"event": "something_new"}\n\n'},
        ],
        citations=[{"document_name": "Guide", "content": "Dify is..."}],
        files=[{"url": "http://127.0.0.1/x.png"}],
        replace_with="[moderated]",
        tts=True,
    )
    raw = await stream(client, chat_body())
    events = [e.json() for e in raw if e.data]
    k = kinds(events)
    assert k[0] == "reasoning_chunk"
    assert events[0]["task_id"] == events[-1]["task_id"]
    assert any(e.event == "ping" for e in raw)
    assert any(e.event == "something_new" for e in raw)
    assert answer_of(events) == "[moderated]"
    assert k.index("message_file") < k.index("message_replace") < k.index("message_end")
    file_event = next(e for e in events if e["event"] == "message_file")
    assert file_event["url"] == "http://127.0.0.1/x.png"
    assert file_event["belongs_to"] == "assistant"
    end = next(e for e in events if e["event"] == "message_end")
    res = end["metadata"]["retriever_resources"]
    assert res[0]["document_name"] == "Guide" and res[0]["position"] == 1
    assert end["files"][0]["id"] == file_event["id"]
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["event"] == "tts_message")
    assert audio.startswith(b"ID3")
    assert k[-1] == "tts_message_end"
    msg = fake_dify.messages[events[0]["message_id"]]
    assert msg.answer == "[moderated]"
    assert fake_dify.pending_scripts == 0


async def test_scripts_are_fifo_then_default(
    client: httpx.AsyncClient, fake_dify: FakeDify
) -> None:
    fake_dify.script("first")
    fake_dify.script("second")
    assert answer_of(await ask(client, chat_body())) == "first"
    assert answer_of(await ask(client, chat_body())) == "second"
    assert "Hello! You said" in answer_of(await ask(client, chat_body()))


async def test_error_after(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.script(["a", "b", "c"], error_after=2, error_code="completion_request_error")
    events = await ask(client, chat_body())
    assert kinds(events) == ["message", "message", "error"]
    err = events[-1]
    assert err["status"] == 400 and err["code"] == "completion_request_error"
    assert err["message"]
    assert err["message_id"] == events[0]["message_id"]
    assert fake_dify.messages[err["message_id"]].status == "error"


async def test_error_before_any_chunk(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.script(["a"], error_after=0, error_status=500, error_code="internal_server_error")
    events = await ask(client, chat_body())
    assert kinds(events) == ["error"]
    assert events[0]["conversation_id"]


async def test_end_after_closes_the_response_cleanly_without_message_end(
    fake_dify: FakeDify, client: httpx.AsyncClient
) -> None:
    fake_dify.script(["a", "b", "c"], end_after=2)
    events = await ask(client, chat_body())  # a complete HTTP body: no transport error
    assert kinds(events) == ["message", "message"]
    assert answer_of(events) == "ab"
    assert fake_dify.active_streams == 0


async def test_a_chatflow_pauses_at_a_human_input_node() -> None:
    async with (
        FakeDify(mode="advanced-chat") as fake,
        httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c,
    ):
        with pytest.raises(ValueError, match="chatflow"):
            FakeDify(mode="chat").script("x", human_input={})
        fake.script("Draft", human_input={"node_title": "Approval", "form_token": "tok-1"})
        events = await ask(c, chat_body())
        k = kinds(events)
        assert k[-2:] == ["human_input_required", "workflow_paused"]
        assert "message_end" not in k and "workflow_finished" not in k
        assert answer_of(events) == "Draft"
        form, paused = events[-2:]
        run_id = events[0]["workflow_run_id"]
        assert form["workflow_run_id"] == paused["workflow_run_id"] == run_id
        data = form["data"]
        assert data["node_title"] == "Approval" and data["form_token"] == "tok-1"
        assert data["form_id"] and data["form_content"] and data["expiration_time"]
        assert [a["id"] for a in data["actions"]] == ["approve", "reject"]
        assert data["inputs"][0]["type"] == "paragraph"
        assert paused["data"]["status"] == "paused"
        assert paused["data"]["reasons"][0]["form_id"] == data["form_id"]


async def test_reset_after(
    fake_dify: FakeDify, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake_dify.script(["a", "b", "c"], reset_after=1)
    got: list[str] = []
    with pytest.raises(httpx.TransportError):
        async with aconnect_sse(client, "POST", "/chat-messages", json=chat_body()) as src:
            async for sse in src.aiter_sse():
                got.append(sse.json()["answer"])
    assert got == ["a"]
    # the server keeps serving
    assert (await client.get("/meta")).json() == {"tool_icons": {}}
    assert fake_dify.active_streams == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_stall_after_sends_nothing_more(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeDify(ping_interval=0.02) as fake:
        fake.script(["a", "b", "c"], stall_after=2)
        got: list[ServerSentEvent] = []
        async with httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c:

            async def consume() -> None:
                async with aconnect_sse(c, "POST", "/chat-messages", json=chat_body()) as src:
                    async for sse in src.aiter_sse():
                        got.append(sse)

            reader = asyncio.create_task(consume())
            await asyncio.sleep(0.4)
            assert not reader.done()
            assert [e.json()["answer"] for e in got if e.data] == ["a", "b"]
            # no pings after the stall (a few may come before the first chunk)
            assert got[-1].event == "message"
            assert fake.active_streams == 1
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
        for _ in range(100):
            if fake.active_streams == 0:
                break
            await asyncio.sleep(0.02)
        assert fake.active_streams == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_stop_ends_stalled_stream_promptly() -> None:
    fake = FakeDify()
    await fake.start()
    fake.script(["a", "b"], stall_after=1)
    async with httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c:

        async def consume() -> None:
            async with aconnect_sse(c, "POST", "/chat-messages", json=chat_body()) as src:
                async for _ in src.aiter_sse():
                    pass

        reader = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await fake.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(httpx.TransportError):
            await reader


async def test_client_disconnect_mid_stream_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        FakeDify(chunk_delay=0.02, ping_interval=0.01) as fake,
        httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c,
    ):
        async with aconnect_sse(c, "POST", "/chat-messages", json=chat_body()) as src:
            async for sse in src.aiter_sse():
                if sse.data:
                    break
        await asyncio.sleep(0.2)
        assert fake.active_streams == 0
        events = await ask(c, chat_body())
        assert events[-1]["event"] == "message_end"
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


# --------------------------------------------------------------------- pre-stream errors


async def test_fail_next(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.fail_next(429, "too_many_requests", times=2, retry_after=1.5)
    for _ in range(2):
        r = await client.post("/chat-messages", json=chat_body())
        assert r.status_code == 429
        assert r.json()["code"] == "too_many_requests"
        assert r.json()["status"] == 429
        assert r.json()["message"]
        assert r.headers["Retry-After"] == "1.5"
    fake_dify.fail_next(500, "internal_server_error", "boom")
    r = await client.post("/chat-messages", json=chat_body())
    assert r.json() == {"code": "internal_server_error", "message": "boom", "status": 500}
    events = await ask(client, chat_body())
    assert events[-1]["event"] == "message_end"
    assert len(fake_dify.conversations) == 1
    assert len(fake_dify.chat_requests) == 4


async def test_max_concurrent_streams(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.max_concurrent_streams = 1
    fake_dify.script(["a", "b"], stall_after=1)

    async def consume() -> None:
        async with aconnect_sse(client, "POST", "/chat-messages", json=chat_body()) as src:
            async for _ in src.aiter_sse():
                pass

    reader = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await fake_dify.wait_until(lambda: fake_dify.active_streams == 1)
    r = await client.post("/chat-messages", json=chat_body())
    assert r.status_code == 429
    assert r.json()["code"] == "too_many_requests"
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader


# --------------------------------------------------------------------- stop


async def test_stop(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    fake_dify.script([f"w{i} " for i in range(200)], delay=0.02)
    events: list[dict[str, Any]] = []
    async with aconnect_sse(client, "POST", "/chat-messages", json=chat_body(user="u1")) as src:
        async for sse in src.aiter_sse():
            if not sse.data:
                continue
            event = sse.json()
            events.append(event)
            if len(events) == 2:
                task_id = event["task_id"]
                r = await client.post(f"/chat-messages/{task_id}/stop", json={"user": "intruder"})
                assert r.json() == {"result": "success"}
            if len(events) == 6:
                r = await client.post(f"/chat-messages/{task_id}/stop", json={"user": "u1"})
                assert r.json() == {"result": "success"}
    assert events[-1]["event"] == "message_end"
    assert 6 <= len(events) < 50
    assert fake_dify.stops == [(task_id, "intruder"), (task_id, "u1")]
    msg = fake_dify.messages[events[0]["message_id"]]
    assert msg.answer == answer_of(events)
    r = await client.post("/chat-messages/unknown/stop", json={"user": "u1"})
    assert r.json() == {"result": "success"}


# --------------------------------------------------------------------- feedback


async def test_feedback(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    events = await ask(client, chat_body(user="alice"))
    mid = events[0]["message_id"]
    url = f"/messages/{mid}/feedbacks"

    r = await client.post(url, json={"rating": None, "user": "alice"})
    assert r.status_code == 400  # nothing to revoke yet

    r = await client.post(url, json={"rating": "like", "user": "alice", "content": "great"})
    assert r.json() == {"result": "success"}
    msg = fake_dify.messages[mid]
    assert (msg.rating, msg.feedback_content) == ("like", "great")

    r = await client.post(url, json={"rating": "dislike", "user": "alice"})
    assert fake_dify.messages[mid].rating == "dislike"

    r = await client.post(url, json={"rating": "like", "user": "mallory"})
    assert r.status_code == 404
    assert r.json() == {"code": "not_found", "message": "Message Not Exists.", "status": 404}
    assert fake_dify.messages[mid].rating == "dislike"

    r = await client.post(
        f"/messages/{uuid.uuid4()}/feedbacks", json={"rating": "like", "user": "alice"}
    )
    assert r.status_code == 404

    r = await client.post(url, json={"rating": "meh", "user": "alice"})
    assert r.status_code == 400

    r = await client.post(url, json={"rating": None, "user": "alice"})
    assert r.json() == {"result": "success"}
    assert fake_dify.messages[mid].rating is None

    listing = (
        await client.get(
            "/messages", params={"conversation_id": events[0]["conversation_id"], "user": "alice"}
        )
    ).json()
    assert listing["data"][0]["feedback"] is None


# --------------------------------------------------------------------- other endpoints


async def test_parameters_info_meta(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    params = (await client.get("/parameters", params={"user": "u1"})).json()
    assert params["opening_statement"] == ""
    assert params["suggested_questions"] == []
    assert params["suggested_questions_after_answer"] == {"enabled": False}
    assert params["speech_to_text"]["enabled"] is False
    assert params["text_to_speech"]["enabled"] is False
    assert params["file_upload"]["image"]["enabled"] is False
    assert params["user_input_form"] == []
    assert params["system_parameters"]["file_size_limit"] == 15
    fake_dify.parameters["opening_statement"] = "Welcome!"
    assert (await client.get("/parameters")).json()["opening_statement"] == "Welcome!"

    info = (await client.get("/info")).json()
    assert {"name", "description", "tags", "mode"} <= set(info)
    assert info["mode"] == "chat"
    assert (await client.get("/meta")).json() == {"tool_icons": {}}


async def test_suggested(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    mid = (await ask(client, chat_body()))[0]["message_id"]
    r = await client.get(f"/messages/{mid}/suggested", params={"user": "u1"})
    assert r.status_code == 400
    fake_dify.parameters["suggested_questions_after_answer"] = {"enabled": True}
    fake_dify.suggested_questions = ["Why?", "How?"]
    r = await client.get(f"/messages/{mid}/suggested", params={"user": "u1"})
    assert r.json() == {"result": "success", "data": ["Why?", "How?"]}
    r = await client.get(f"/messages/{mid}/suggested", params={"user": "other"})
    assert r.status_code == 404


async def test_conversation_and_message_listing(
    fake_dify: FakeDify, client: httpx.AsyncClient
) -> None:
    a = await ask(client, chat_body("first question"))
    cid = a[0]["conversation_id"]
    await ask(client, chat_body("second question", conversation_id=cid))
    await ask(client, chat_body("elsewhere", user="u2"))

    convs = (await client.get("/conversations", params={"user": "u1"})).json()
    assert [c["id"] for c in convs["data"]] == [cid]
    assert convs["has_more"] is False
    assert convs["data"][0]["name"] == "first question"

    msgs = (await client.get("/messages", params={"conversation_id": cid, "user": "u1"})).json()
    assert [m["query"] for m in msgs["data"]] == ["first question", "second question"]
    assert msgs["data"][1]["answer"] == fake_dify.conversations[cid].turns[1][1]
    page = (
        await client.get(
            "/messages",
            params={"conversation_id": cid, "user": "u1", "limit": 1},
        )
    ).json()
    assert page["has_more"] is True and page["data"][0]["query"] == "second question"

    r = await client.get("/messages", params={"conversation_id": cid, "user": "u2"})
    assert r.status_code == 404

    r = await client.post(f"/conversations/{cid}/name", json={"name": "Renamed", "user": "u1"})
    assert r.json()["name"] == "Renamed"

    r = await client.request("DELETE", f"/conversations/{cid}", json={"user": "u2"})
    assert r.status_code == 404
    r = await client.request("DELETE", f"/conversations/{cid}", json={"user": "u1"})
    assert r.json() == {"result": "success"}
    assert cid not in fake_dify.conversations
    r = await client.post("/chat-messages", json=chat_body(conversation_id=cid))
    assert r.status_code == 404
    assert r.json()["message"] == "Conversation Not Exists."


async def test_file_upload(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/files/upload",
        files={"file": ("cat.png", b"\x89PNG fake", "image/png")},
        data={"user": "u1"},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "cat.png" and body["size"] == 9
    assert body["extension"] == "png" and body["mime_type"] == "image/png"
    assert {"id", "created_by", "created_at"} <= set(body)
    stored = fake_dify.files[body["id"]]
    assert (stored.user, stored.content) == ("u1", b"\x89PNG fake")

    files = [{"type": "image", "transfer_method": "local_file", "upload_file_id": body["id"]}]
    events = await ask(client, chat_body(files=files))
    assert events[-1]["event"] == "message_end"
    assert fake_dify.chat_requests[-1]["files"] == files

    bad = [{"type": "image", "transfer_method": "local_file", "upload_file_id": "nope"}]
    r = await client.post("/chat-messages", json=chat_body(files=bad))
    assert r.status_code == 400

    r = await client.post("/files/upload", data={"user": "u1"}, files={"other": ("x", b"1")})
    assert r.status_code == 400
    assert r.json()["code"] == "no_file_uploaded"


async def test_audio_to_text(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    def post(name: str, data: bytes, mime: str) -> Any:
        return client.post(
            "/audio-to-text", files={"file": (name, data, mime)}, data={"user": "u1"}
        )

    r = await post("voice.mp3", b"ID3...", "audio/mpeg")
    assert r.status_code == 400  # speech to text disabled by default
    fake_dify.parameters["speech_to_text"] = {"enabled": True}
    fake_dify.transcript = "hello from voice"
    r = await post("voice.mp3", b"ID3...", "audio/mpeg")
    assert r.json() == {"text": "hello from voice"}
    r = await post("voice.ogg", b"OggS", "audio/ogg")
    assert r.status_code == 415
    assert r.json()["code"] == "unsupported_audio_type"
    r = await post("big.wav", b"\0" * (15 * 1024 * 1024 + 1), "audio/wav")
    assert r.status_code == 413
    r = await client.post("/audio-to-text", data={"user": "u1"})
    assert r.status_code == 400


async def test_text_to_audio(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    r = await client.post("/text-to-audio", json={"text": "hi", "user": "u1"})
    assert r.status_code == 400
    fake_dify.parameters["text_to_speech"] = {"enabled": True}
    r = await client.post("/text-to-audio", json={"text": "hi", "user": "u1"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/mpeg"
    assert r.content.startswith(b"ID3")
    mid = (await ask(client, chat_body()))[0]["message_id"]
    r = await client.post("/text-to-audio", json={"message_id": mid, "user": "u1"})
    assert r.status_code == 200
    r = await client.post("/text-to-audio", json={"message_id": mid, "user": "u2"})
    assert r.status_code == 404
    r = await client.post("/text-to-audio", json={"user": "u1"})
    assert r.status_code == 400


async def test_requests_are_recorded(fake_dify: FakeDify, client: httpx.AsyncClient) -> None:
    await client.get("/parameters", params={"user": "u1"})
    await ask(client, chat_body("recorded"))
    get, post = fake_dify.requests
    assert (get.method, get.path, get.query, get.json) == (
        "GET",
        "/v1/parameters",
        {"user": "u1"},
        None,
    )
    assert get.headers["Authorization"] == f"Bearer {KEY}"
    assert post.json is not None and post.json["query"] == "recorded"
    assert fake_dify.chat_requests == [post.json]
    assert fake_dify.requests_to("/parameters") == [get]


ENVELOPE = ("event", "task_id", "message_id", "conversation_id", "created_at")


@pytest.mark.parametrize("mode", ["chat", "agent-chat", "advanced-chat"])
async def test_every_event_carries_the_envelope(mode: str) -> None:
    async with (
        FakeDify(mode=mode, ping_interval=0.01) as fake,
        httpx.AsyncClient(base_url=fake.url, headers=AUTH) as c,
    ):
        fake.script(
            ["a", "b"],
            delay=0.03,
            files=[{}],
            citations=[{}],
            replace_with="c",
            tts=True,
            agent_thoughts=[{"tool": "t"}],
        )
        events = await ask(c, chat_body())
        fake.script(["a", "b"], error_after=1)
        events += await ask(c, chat_body())
    assert {"message_file", "message_replace", "message_end", "tts_message", "error"} <= set(
        kinds(events)
    )
    for e in events:
        for key in ENVELOPE:
            assert e.get(key), (e["event"], key)
