"""The fake Dify: conversations, request validation, blocking mode, app modes."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fake_dify.helpers import AUTH, answer_of, ask, chat_body, kinds
from tests.fakes.dify import FakeDify

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
