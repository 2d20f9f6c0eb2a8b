"""The fake Dify: stop, feedback, the other endpoints, the envelope of every event."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fake_dify.helpers import AUTH, KEY, answer_of, ask, chat_body, kinds
from tests.fakes.dify import FakeDify

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
