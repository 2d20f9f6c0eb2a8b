"""The Dify client against the fake Dify server over real HTTP and SSE."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from dify_bridge.core.types import Rating
from dify_bridge.dify.client import DifyClient, make_http_client
from dify_bridge.dify.events import (
    AgentThought,
    AnswerDelta,
    AnswerReplaced,
    FileProduced,
    HumanInputRequired,
    MessageEnded,
    StreamEvent,
    WorkflowFinished,
    WorkflowPaused,
)
from dify_bridge.errors import (
    AuthFailed,
    ConversationNotFound,
    DifyUnavailable,
    InvalidRequest,
    MessageNotFound,
    RateLimited,
    StreamCutOff,
    StreamFailed,
)
from tests.fakes.dify import FakeDify


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(connect_timeout=2, read_timeout=2) as client:
        yield client


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


async def test_unknown_conversation_is_conversation_not_found(
    fake_dify: FakeDify, http: httpx.AsyncClient
) -> None:
    client = client_for(fake_dify.url, http)
    events = await collect(client)
    conversation = events[0].conversation_id
    fake_dify.delete_conversation(conversation)
    with pytest.raises(ConversationNotFound):
        await collect(client, conversation_id=conversation)


async def test_http_errors_are_typed(fake_dify: FakeDify, http: httpx.AsyncClient) -> None:
    client = client_for(fake_dify.url, http)
    with pytest.raises(AuthFailed):
        await collect(client_for(fake_dify.url, http, key="app-wrong"))
    fake_dify.fail_next(400, "provider_quota_exceeded", "quota")
    with pytest.raises(InvalidRequest):
        await collect(client)
    fake_dify.fail_next(429, "rate_limit_error", "too fast")
    before = len(fake_dify.chat_requests)
    with pytest.raises(RateLimited):
        await collect(client)
    assert len(fake_dify.chat_requests) == before + 1, "rate_limit_error must not be retried"


async def test_busy_and_server_errors_retry_then_give_up(
    fake_dify: FakeDify, http: httpx.AsyncClient
) -> None:
    client = client_for(fake_dify.url, http)
    fake_dify.fail_next(429, "too_many_requests", "busy", times=2)
    assert answer_of(await collect(client))
    assert len(fake_dify.chat_requests) == 3
    fake_dify.fail_next(503, "unavailable", "down")
    with pytest.raises(DifyUnavailable):
        await collect(client)


async def test_connection_refused_is_unavailable(http: httpx.AsyncClient) -> None:
    fake = FakeDify()
    url = await fake.start()
    await fake.stop()
    with pytest.raises(DifyUnavailable):
        await collect(client_for(url, http))


async def test_stalled_stream_is_abandoned(fake_dify: FakeDify) -> None:
    fake_dify.script(["a", "b", "c"], stall_after=1)
    async with make_http_client(read_timeout=0.5) as quick:
        with pytest.raises(DifyUnavailable, match="read timeout"):
            await collect(client_for(fake_dify.url, quick))


async def test_reset_mid_stream_is_unavailable(
    fake_dify: FakeDify, http: httpx.AsyncClient
) -> None:
    fake_dify.script(["a", "b", "c"], reset_after=1)
    with pytest.raises(DifyUnavailable):
        await collect(client_for(fake_dify.url, http))


@pytest.mark.parametrize(
    "fault, reason",
    [
        ({"end_after": 1}, "closed the stream before the answer was complete"),
        ({"reset_after": 1}, "failed mid-stream"),
        ({"stall_after": 1}, "read timeout"),
    ],
    ids=["clean EOF", "TCP reset", "read timeout"],
)
async def test_a_stream_that_ends_without_message_end_is_cut_off(
    fault: dict[str, int], reason: str, fake_dify: FakeDify
) -> None:
    fake_dify.script(["a", "b", "c"], **fault)  # type: ignore[arg-type]
    got: list[StreamEvent] = []
    async with make_http_client(read_timeout=0.5) as quick:
        with pytest.raises(StreamCutOff, match=reason):
            async for event in client_for(fake_dify.url, quick).stream_chat(query="q", user="u"):
                got.append(event)
    assert answer_of(got) == "a", "what arrived was yielded before the cut"


async def test_a_chatflow_that_pauses_for_a_person_is_not_cut_off(
    http: httpx.AsyncClient,
) -> None:
    async with FakeDify(mode="advanced-chat") as fake:
        fake.script(
            "Draft",
            human_input={"node_title": "Approval", "form_token": "tok-1", "expiration_time": 99},
        )
        events = await collect(client_for(fake.url, http))
    form, paused = (e for e in events if isinstance(e, HumanInputRequired | WorkflowPaused))
    assert isinstance(form, HumanInputRequired) and isinstance(paused, WorkflowPaused)
    assert answer_of(events) == "Draft"
    assert form.node_title == "Approval" and form.form_token == "tok-1"
    assert form.form_id and form.form_content.startswith("Please review")
    assert form.expiration_time == 99
    assert [a["id"] for a in form.actions] == ["approve", "reject"]
    assert form.inputs[0]["output_variable_name"] == "comment"
    assert form.workflow_run_id and form.workflow_run_id == paused.workflow_run_id
    assert form.message_id and form.conversation_id and form.task_id
    assert paused.reasons and paused.reasons[0]["type"] == "human_input_required"


async def test_a_chatflow_may_finish_its_workflow_before_its_message(
    http: httpx.AsyncClient,
) -> None:
    async with FakeDify(mode="advanced-chat") as fake:
        fake.script("Whole", workflow_finished_first=True)
        events = await collect(client_for(fake.url, http))
    finished = [e for e in events if isinstance(e, WorkflowFinished)]
    assert [e.succeeded for e in finished] == [True]
    assert isinstance(events[-1], MessageEnded)


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
