"""The Dify client against the fake Dify server over real HTTP and SSE: streams and calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from dify_bridge.core.types import Rating
from dify_bridge.dify.client import make_http_client
from dify_bridge.dify.events import (
    AgentThought,
    FileProduced,
    MessageEnded,
    StreamEvent,
)
from dify_bridge.errors import (
    MessageNotFound,
    StreamFailed,
)
from tests.dify_streams import answer_of, client_for, collect
from tests.fakes.dify import FakeDify


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(connect_timeout=2, read_timeout=2) as client:
        yield client


async def test_streams_chunks_and_metadata(fake_dify: FakeDify, http: httpx.AsyncClient) -> None:
    fake_dify.script(
        ["Hel", "lo ", "world"],
        citations=[{"document_name": "guide.md", "content": "the guide", "score": 0.9}],
    )
    events = await collect(client_for(fake_dify.url, http))
    assert answer_of(events) == "Hello world"
    assert all(e.conversation_id for e in events)
    end = events[-1]
    assert isinstance(end, MessageEnded)
    assert end.citations[0].document_name == "guide.md"
    assert end.usage.total_tokens > 0
    assert fake_dify.chat_requests[0]["response_mode"] == "streaming"


async def test_unknown_events_and_pings_are_skipped(
    fake_dify: FakeDify, http: httpx.AsyncClient
) -> None:
    fake_dify.script(
        ["ok"],
        events=[
            {"event": "brand_new_kind", "x": 1},
            {"event": "ping"},
            {"raw": "data: {not json\n\n"},
        ],
    )
    events = await collect(client_for(fake_dify.url, http))
    assert answer_of(events) == "ok"


async def test_message_replace_replaces_the_answer(
    fake_dify: FakeDify, http: httpx.AsyncClient
) -> None:
    fake_dify.script(["bad ", "words"], replace_with="[removed by moderation]")
    events = await collect(client_for(fake_dify.url, http))
    assert answer_of(events) == "[removed by moderation]"


async def test_agent_app_streams_thoughts_and_agent_messages(http: httpx.AsyncClient) -> None:
    async with FakeDify(mode="agent-chat") as fake:
        fake.script(
            ["Sunny"], agent_thoughts=[{"tool": "weather", "tool_input": '{"city": "Oslo"}'}]
        )
        events = await collect(client_for(fake.url, http))
    assert any(isinstance(e, AgentThought) and e.tool == "weather" for e in events)
    assert answer_of(events) == "Sunny"


async def test_files_produced_by_the_app(fake_dify: FakeDify, http: httpx.AsyncClient) -> None:
    fake_dify.script(["Here"], files=[{"url": "http://127.0.0.1/x.png", "type": "image"}])
    events = await collect(client_for(fake_dify.url, http))
    assert [e.url for e in events if isinstance(e, FileProduced)] == ["http://127.0.0.1/x.png"]


async def test_mid_stream_error_raises_after_the_text(
    fake_dify: FakeDify, http: httpx.AsyncClient
) -> None:
    fake_dify.script(["one ", "two ", "three"], error_after=2)
    seen: list[StreamEvent] = []
    with pytest.raises(StreamFailed):
        async for event in client_for(fake_dify.url, http).stream_chat(query="q", user="u"):
            seen.append(event)
    assert answer_of(seen) == "one two "


async def test_failed_chatflow_raises(http: httpx.AsyncClient) -> None:
    async with FakeDify(mode="advanced-chat") as fake:
        fake.script(["partial"], workflow_error="node LLM failed")
        with pytest.raises(StreamFailed):
            await collect(client_for(fake.url, http))


async def test_feedback_only_by_the_owner(fake_dify: FakeDify, http: httpx.AsyncClient) -> None:
    client = client_for(fake_dify.url, http)
    events = await collect(client)
    message_id = events[-1].message_id
    await client.send_feedback(message_id, Rating.LIKE, user="u1")
    assert fake_dify.messages[message_id].rating == "like"
    with pytest.raises(MessageNotFound):
        await client.send_feedback(message_id, Rating.DISLIKE, user="someone-else")
    await client.send_feedback(message_id, None, user="u1")
    assert fake_dify.messages[message_id].rating is None


async def test_parameters_info_and_stop(fake_dify: FakeDify, http: httpx.AsyncClient) -> None:
    client = client_for(fake_dify.url, http)
    assert (await client.info())["mode"] == "chat"
    assert "user_input_form" in await client.parameters()
    await client.stop("task-1", user="u1")
    assert fake_dify.stops == [("task-1", "u1")]


async def test_sse_frames_split_across_tcp_packets(http: httpx.AsyncClient) -> None:
    """A raw server that dribbles each event a few bytes at a time."""
    events = [
        {
            "event": "message",
            "answer": "Hel",
            "conversation_id": "c1",
            "message_id": "m1",
            "task_id": "t",
        },
        {
            "event": "message",
            "answer": "lo 😀",
            "conversation_id": "c1",
            "message_id": "m1",
            "task_id": "t",
        },
        {"event": "message_end", "conversation_id": "c1", "message_id": "m1", "metadata": {}},
    ]
    body = b"event: ping\n\n" + b"".join(
        f"data: {json.dumps(e, ensure_ascii=False)}\n\n".encode() for e in events
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        await reader.read(65536)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        )
        for start in range(0, len(body), 3):
            writer.write(body[start : start + 3])
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        got = await collect(client_for(f"http://127.0.0.1:{port}/v1", http))
    assert answer_of(got) == "Hello 😀"
    assert isinstance(got[-1], MessageEnded)


def test_which_events_end_an_answer() -> None:
    from dify_bridge.dify.events import ends_answer, parse_event

    def event(kind: str, **data: object) -> StreamEvent:
        parsed = parse_event({"event": kind, "data": data})
        assert parsed is not None
        return parsed

    assert ends_answer(event("message_end"))
    assert ends_answer(event("workflow_finished", status="succeeded"))
    assert ends_answer(event("workflow_finished", status="partial-succeeded"))
    assert not ends_answer(event("workflow_finished", status="stopped", error="stopped by user"))
    assert ends_answer(event("human_input_required", form_id="f"))
    assert ends_answer(event("workflow_paused"))
    assert not ends_answer(event("message", answer="x"))
    with pytest.raises(StreamFailed, match="no reason given"):
        parse_event({"event": "workflow_finished", "data": {"status": "failed"}})
