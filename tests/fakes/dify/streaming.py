"""``POST /chat-messages`` in streaming mode: one answer as Dify's SSE events."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from tests.fakes.dify.faults import Faults
from tests.fakes.dify.records import FakeConversation, FakeMessage, ScriptedAnswer, Task
from tests.fakes.dify.wire import ClientGone, Sse, citation, usage
from tests.fakes.dify.workflow import WorkflowRun


class Streaming(Faults):
    """Writes an answer's events: workflow preamble, thoughts, chunks, files, ``message_end``."""

    def _base(self, conv: FakeConversation, msg: FakeMessage) -> dict[str, Any]:
        return {
            "task_id": msg.task_id,
            "message_id": msg.id,
            "conversation_id": conv.id,
            "created_at": msg.created_at,
        }

    async def _stream(
        self,
        request: web.Request,
        conv: FakeConversation,
        msg: FakeMessage,
        task: Task,
        script: ScriptedAnswer,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            },
        )
        try:
            await resp.prepare(request)
        except (ConnectionError, RuntimeError):
            msg.status = "error"
            return resp
        sse = Sse(request, resp)
        pinger = asyncio.create_task(self._pinger(sse))
        self._open[id(request)] = request
        try:
            await self._emit_answer(sse, request, conv, msg, task, script, pinger)
        except ClientGone:
            if msg.status == "normal":
                msg.status = "error"
        finally:
            self._open.pop(id(request), None)
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientGone):
                await pinger
        return resp

    async def _pinger(self, sse: Sse) -> None:
        with contextlib.suppress(ClientGone):
            while True:
                await asyncio.sleep(self.ping_interval)
                await sse.ping()

    async def _send_extra(
        self, sse: Sse, base: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
    ) -> None:
        for event in events:
            if "raw" in event:
                await sse.write_raw(str(event["raw"]).encode())
            elif event.get("event") == "ping" and len(event) == 1:
                await sse.ping()
            else:
                payload = dict(base)
                payload.update(event)
                await sse.send(payload)

    async def _agent_thoughts(
        self,
        sse: Sse,
        base: Mapping[str, Any],
        task: Task,
        script: ScriptedAnswer,
        delay: float,
    ) -> list[dict[str, Any]]:
        thoughts: list[dict[str, Any]] = []
        given = script.agent_thoughts or [{}]
        for position, thought in enumerate(given, start=1):
            payload = {
                "event": "agent_thought",
                "id": str(uuid.uuid4()),
                **base,
                "position": position,
                "thought": "",
                "observation": "",
                "tool": "",
                "tool_labels": {},
                "tool_input": "",
                "message_files": [],
            }
            payload.update(thought)
            thoughts.append(payload)
            await sse.send(payload)
            await self._pause(task, delay)
        return thoughts

    async def _emit_answer(
        self,
        sse: Sse,
        request: web.Request,
        conv: FakeConversation,
        msg: FakeMessage,
        task: Task,
        script: ScriptedAnswer,
        pinger: asyncio.Task[None],
    ) -> None:
        started = time.monotonic()
        base = self._base(conv, msg)
        delay = self.chunk_delay if script.delay is None else script.delay
        chatflow = self.mode == "advanced-chat"
        agent = self.mode == "agent-chat"
        run = WorkflowRun(conv, msg) if chatflow else None

        if run is not None:
            await sse.send(run.started(base))
            await sse.send(run.node_started(base, "start", "Start", 1))
            await sse.send(run.node_finished(base, "start", "Start", 1, {"sys.query": msg.query}))
            await sse.send(run.node_started(base, "llm", "LLM", 2))
        await self._send_extra(sse, base, script.events)

        thoughts: list[dict[str, Any]] = []
        if agent:
            thoughts = await self._agent_thoughts(sse, base, task, script, delay)
            msg.agent_thoughts = thoughts

        kind = "agent_message" if agent else "message"
        stopped = False
        for sent, chunk in enumerate(script.chunks):
            if await self._fault_at(sent, sse, request, base, msg, script, pinger):
                return
            if task.stopped.is_set():
                stopped = True
                break
            payload = {"event": kind, "id": msg.id, **base, "answer": chunk}
            if chatflow:
                payload["from_variable_selector"] = ["llm", "text"]
            await sse.send(payload)
            msg.answer += chunk
            if sent + 1 < len(script.chunks):
                await self._pause(task, delay)
        else:
            if await self._fault_at(len(script.chunks), sse, request, base, msg, script, pinger):
                return
        if stopped:
            msg.status = "stopped"

        await self._send_extra(sse, base, script.events_after)
        if agent and not stopped:
            final = dict(thoughts[-1])
            final["thought"] = msg.answer
            thoughts[-1] = final
            await sse.send(final)

        files = [self._file_event(conv, msg, i, f) for i, f in enumerate(script.files)]
        for event in files:
            await sse.send(event)
        envelope = {"event", "task_id", "message_id", "conversation_id", "created_at"}
        msg.files = [{k: v for k, v in f.items() if k not in envelope} for f in files]
        if script.replace_with is not None and not stopped:
            msg.answer = script.replace_with
            await sse.send({"event": "message_replace", **base, "answer": script.replace_with})

        if run is not None:
            outputs = {"text": msg.answer}
            await sse.send(run.node_finished(base, "llm", "LLM", 2, outputs))
            if not stopped and await self._chatflow_halts(sse, run, base, msg, script):
                return
            await sse.send(run.node_started(base, "answer", "Answer", 3))
            await sse.send(run.node_finished(base, "answer", "Answer", 3, {"answer": msg.answer}))
            if script.workflow_finished_first:
                await sse.send(run.finished(base, msg.answer, None))

        if script.tts:
            for piece in (self.speech[i : i + 48] for i in range(0, len(self.speech), 48)):
                audio = base64.b64encode(piece).decode()
                await sse.send({"event": "tts_message", **base, "audio": audio})

        citations = [citation(i, c) for i, c in enumerate(script.citations)]
        msg.retriever_resources = citations
        end: dict[str, Any] = {
            "event": "message_end",
            "id": msg.id,
            **base,
            "metadata": {
                "usage": usage(msg.query, msg.answer, time.monotonic() - started),
                "retriever_resources": citations,
            },
        }
        if msg.files:
            end["files"] = msg.files
        await sse.send(end)
        if run is not None and not script.workflow_finished_first:
            await sse.send(run.finished(base, msg.answer, None))
        if script.tts:
            await sse.send({"event": "tts_message_end", **base, "audio": ""})

    def _file_event(
        self, conv: FakeConversation, msg: FakeMessage, index: int, given: Mapping[str, Any]
    ) -> dict[str, Any]:
        file_id = str(given.get("id") or uuid.uuid4())
        event: dict[str, Any] = {
            "event": "message_file",
            **self._base(conv, msg),
            "id": file_id,
            "type": "image",
            "belongs_to": "assistant",
            "url": f"{self.url.removesuffix('/v1')}/files/tools/{file_id}.png",
        }
        event.update(given)
        return event
