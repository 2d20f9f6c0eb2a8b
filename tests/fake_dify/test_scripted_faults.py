"""The fake Dify: scripted answers, the faults they inject, errors before the stream."""

from __future__ import annotations

import asyncio
import base64
import logging
import time

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.fake_dify.helpers import AUTH, answer_of, ask, chat_body, kinds, stream
from tests.fakes.dify import FakeDify

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
