"""The Dify client against the fake Dify: HTTP errors, retries, stalls, resets, cut-off streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dify_bridge.dify.client import make_http_client
from dify_bridge.dify.events import (
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
    RateLimited,
    StreamCutOff,
)
from tests.dify_streams import answer_of, client_for, collect
from tests.fakes.dify import FakeDify


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with make_http_client(connect_timeout=2, read_timeout=2) as client:
        yield client


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
