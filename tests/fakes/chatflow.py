"""A Dify chatflow (advanced-chat) app whose workflow runs go on while no one listens.

Real SSE over aiohttp on 127.0.0.1. Each ``POST /chat-messages`` starts a run:
a task, like Dify's worker, that publishes the run's events to whoever
listens. A scripted break cuts the listening connection (a TCP reset, a clean
end of the body, or silence) while the run goes on, and the chunks it sends
meanwhile reach no one, as in Dify. ``GET /workflow/{run}/events`` listens
again: with ``include_state_snapshot=true`` it first restates the run
(``workflow_started``, a ``message_replace`` with the answer so far, the nodes
so far), then goes on live; without it, only what comes next. A run that has
finished answers with its ``workflow_finished`` alone. The answer is stored at
``message_end``, as Dify does, and read back by ``GET /messages``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

KEY = "app-test"


@dataclass(frozen=True)
class Until:
    """A step that sends nothing: the run waits until ``condition()`` holds (e.g. until
    the thread shows something), so a test sees every state it wants to see."""

    condition: Callable[[], bool]


@dataclass(frozen=True)
class Form:
    """A Human Input node: the run sends ``human_input_required`` and ``workflow_paused``,
    its stream ends, and it waits for ``POST /form/human_input/{token}``; then it sends
    ``human_input_form_filled`` and goes on with the next steps."""

    title: str = "Approval"
    content: str = "Please review the **draft**."
    inputs: tuple[dict[str, Any], ...] = (
        {"type": "paragraph", "output_variable_name": "comment", "placeholder": "Comment"},
    )
    actions: tuple[dict[str, Any], ...] = (
        {"id": "approve", "title": "Approve", "button_style": "primary"},
        {"id": "reject", "title": "Reject", "button_style": "danger"},
    )
    by_email: bool = False
    """Delivered by e-mail: ``form_token`` is null."""
    expires_in: float = 3600.0


@dataclass
class FormState:
    """One form a run waits on, and its answer once submitted."""

    run: Run
    form: Form
    form_id: str
    token: str
    expires_at: float
    answer: dict[str, Any] | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)


Step = str | dict[str, Any] | Until | Form
"""A chunk of answer text, an event sent as it is (ids filled in when absent), a wait,
or a Human Input node."""

BreakKind = Literal["reset", "eof", "stall"]


@dataclass
class Flow:
    """What the next run does; see :meth:`FakeChatflow.script`."""

    steps: list[Step]
    break_after: int | None = None
    break_kind: BreakKind = "reset"
    while_away: int | None = 2
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Run:
    """One workflow run and the message it answers."""

    id: str
    task_id: str
    message_id: str
    conversation_id: str
    user: str
    query: str
    answer: str = ""
    """Everything streamed so far (what a snapshot restates)."""
    chunks: list[str] = field(default_factory=list)
    """The same, as the chunks it was sent in (what a replayed snapshot restates)."""
    stored_answer: str = ""
    """What ``GET /messages`` shows: written at ``message_end``."""
    retriever_resources: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    sent_while_away: list[str] = field(default_factory=list)
    listeners: list[asyncio.Queue[Any]] = field(default_factory=list)
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    pause: list[dict[str, Any]] = field(default_factory=list)
    """While paused: the pause events a snapshot restates."""


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    json: Any


@dataclass(frozen=True)
class _Break:
    kind: BreakKind


_END = object()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"code": code, "message": message, "status": status}
    return web.json_response(body, status=status)


class FakeChatflow:
    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.requests: list[Recorded] = []
        self.speech_requests: list[dict[str, Any]] = []
        self.parameters: dict[str, Any] = {
            "opening_statement": "",
            "suggested_questions_after_answer": {"enabled": False},
            "text_to_speech": {"enabled": False},
            "speech_to_text": {"enabled": False},
            "file_upload": {"enabled": False},
            "user_input_form": [],
            "system_parameters": {"file_size_limit": 15},
        }
        self._flows: list[Flow] = []
        self._failures: list[tuple[int, str, str]] = []
        self.refuse_resumes = 0
        """The next so many ``GET /workflow/…/events`` answer with ``resume_refusal``."""
        self.resume_refusal = (503, "internal_server_error", "Internal Server Error")
        self.snapshot_replays = False
        """True: a snapshot restates the answer as its chunks from the start (a replay of
        the run's event log) instead of one ``message_replace``."""
        self.forms: dict[str, FormState] = {}
        """By form token (an e-mailed form by its id)."""
        self._form_failures: list[tuple[int, str, str]] = []
        self._workers: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---------------------------------------------------------------- scripting

    def script(
        self,
        steps: Sequence[Step],
        *,
        break_after: int | None = None,
        break_kind: BreakKind = "reset",
        while_away: int | None = 2,
        citations: Sequence[dict[str, Any]] = (),
    ) -> None:
        """The next run: ``steps`` in order, then ``message_end`` and ``workflow_finished``.

        ``break_after``: the listening connection breaks (``break_kind``) once so
        many steps were sent; the next ``while_away`` steps are sent to no one
        (None: all the rest, so the run ends meanwhile), then the run waits for
        a listener. An ``{"event": "error", …}`` step ends the run there."""
        self._flows.append(
            Flow(list(steps), break_after, break_kind, while_away, [dict(c) for c in citations])
        )

    def fail_next(self, status: int, code: str, message: str = "") -> None:
        """Answer the next ``POST /chat-messages`` with this JSON error."""
        self._failures.append((status, code, message or code))

    def fail_next_form(self, status: int, code: str, message: str = "") -> None:
        """Answer the next ``POST /form/human_input/…`` with this JSON error."""
        self._form_failures.append((status, code, message or code))

    def expire(self, state: FormState) -> None:
        state.expires_at = time.time() - 1

    @property
    def form_posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/v1/form/human_input/")]

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        return [
            r for r in self.requests if r.path == path and (method is None or r.method == method)
        ]

    @property
    def chat_posts(self) -> list[Recorded]:
        return self.requests_to("/v1/chat-messages", "POST")

    @property
    def resumes(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/events")]

    # ---------------------------------------------------------------- serving

    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v1/info", self._info)
        app.router.add_get("/v1/parameters", self._parameters)
        app.router.add_post("/v1/chat-messages", self._chat)
        app.router.add_post("/v1/chat-messages/{task_id}/stop", self._stop)
        app.router.add_get("/v1/workflow/{run_id}/events", self._events)
        app.router.add_get("/v1/messages", self._messages)
        app.router.add_post("/v1/text-to-audio", self._speech)
        app.router.add_post("/v1/form/human_input/{token}", self._submit_form)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self.url

    async def stop(self) -> None:
        for worker in list(self._workers):
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.json() if request.content_type == "application/json" else None
        self.requests.append(Recorded(request.method, request.path, dict(request.query), body))
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return _error(401, "unauthorized", "Access token is invalid")
        return await handler(request)

    async def _info(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"name": "Chatflow", "mode": "advanced-chat"})

    async def _parameters(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.parameters)

    async def _stop(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"result": "success"})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        self.speech_requests.append(await request.json())
        return web.Response(body=b"ID3 fake mp3", content_type="audio/mpeg")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if self._failures:
            status, code, message = self._failures.pop(0)
            return _error(status, code, message)
        flow = self._flows.pop(0) if self._flows else Flow(["Hello ", "there."])
        run = Run(
            id=str(uuid.uuid4()),
            task_id=str(uuid.uuid4()),
            message_id=str(uuid.uuid4()),
            conversation_id=body.get("conversation_id") or str(uuid.uuid4()),
            user=body["user"],
            query=body["query"],
        )
        self.runs[run.id] = run
        queue = self._listen(run)  # before the run starts: the first events are heard
        worker = asyncio.create_task(self._work(run, flow))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)
        return await self._serve(request, queue, [])

    async def _events(self, request: web.Request) -> web.StreamResponse:
        run = self.runs.get(request.match_info["run_id"])
        if run is None or run.user != request.query.get("user"):
            return _error(404, "not_found", "Workflow run not found")
        if self.refuse_resumes:
            self.refuse_resumes -= 1
            return _error(*self.resume_refusal)
        if run.status not in ("running", "paused"):
            return await self._serve(request, None, [self._finished(run, bare=True)])
        snapshot = []
        if request.query.get("include_state_snapshot", "false").lower() == "true":
            snapshot = [
                self._event(run, {"event": "workflow_started", "data": {"id": run.id}}),
                *(
                    [self._event(run, chunk) for chunk in run.chunks]
                    if self.snapshot_replays
                    else [self._event(run, {"event": "message_replace", "answer": run.answer})]
                ),
                *run.nodes,
                *run.pause,
            ]
        return await self._serve(request, self._listen(run), snapshot)

    async def _submit_form(self, request: web.Request) -> web.StreamResponse:
        """Dify's ``HumanInputFormApi``: 404 unknown, 412 answered or expired, 400 bad data."""
        body = await request.json()
        if self._form_failures:
            return _error(*self._form_failures.pop(0))
        state = self.forms.get(request.match_info["token"])
        if state is None or state.form.by_email:
            return _error(404, "not_found", "Form not found")
        if state.answer is not None:
            return _error(412, "human_input_form_submitted", "Form has already been submitted")
        if time.time() >= state.expires_at:
            return _error(412, "human_input_form_expired", "Form has expired")
        problem = _form_problem(state.form, body)
        if problem:
            return _error(400, "invalid_form_data", problem)
        state.answer = body
        state.answered.set()
        return web.json_response({})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        user, conversation = request.query.get("user"), request.query.get("conversation_id")
        found = [
            r for r in self.runs.values() if (r.user, r.conversation_id) == (user, conversation)
        ]
        data = [
            {
                "id": r.message_id,
                "conversation_id": r.conversation_id,
                "query": r.query,
                "answer": r.stored_answer,
                "retriever_resources": r.retriever_resources,
                "message_files": [],
                "created_at": 0,
            }
            for r in reversed(found)
        ]
        return web.json_response({"limit": 20, "has_more": False, "data": data})

    # ---------------------------------------------------------------- a run

    def _listen(self, run: Run) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        run.listeners.append(queue)
        run.listening.set()
        return queue

    def _event(self, run: Run, step: str | dict[str, Any]) -> dict[str, Any]:
        if isinstance(step, str):
            step = {"event": "message", "answer": step, "id": run.message_id}
        ids = {
            "task_id": run.task_id,
            "workflow_run_id": run.id,
            "conversation_id": run.conversation_id,
            "message_id": run.message_id,
            "created_at": int(time.time()),
        }
        if step["event"] == "message":
            del ids["workflow_run_id"]  # Dify's message chunks do not name the run
        return ids | step

    def _publish(self, run: Run, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "message":
            run.answer += event["answer"]
            run.chunks.append(event["answer"])
        elif kind == "message_replace":
            run.answer = event["answer"]
            run.chunks = [event["answer"]]
        elif kind == "node_started":
            run.nodes.append(event)
        if not run.listeners and kind == "message":
            run.sent_while_away.append(event["answer"])
        for queue in run.listeners:
            queue.put_nowait(event)

    def _break(self, run: Run, kind: BreakKind) -> None:
        for queue in run.listeners:
            queue.put_nowait(_Break(kind))
        run.listeners.clear()
        run.listening.clear()

    def _finished(self, run: Run, *, bare: bool = False) -> dict[str, Any]:
        data = {
            "id": run.id,
            "workflow_id": "wf-1",
            "status": run.status,
            "outputs": {"answer": run.answer},
            "error": None,
            "elapsed_time": 1.0,
            "total_tokens": 10,
            "total_steps": 3,
            "created_at": 0,
            "finished_at": 1,
            "files": [],
        }
        if bare:  # how Dify answers for a run that has ended: no conversation or message
            return {
                "event": "workflow_finished",
                "task_id": run.id,
                "workflow_run_id": run.id,
                "data": data,
            }
        return self._event(run, {"event": "workflow_finished", "data": data})

    async def _work(self, run: Run, flow: Flow) -> None:
        llm = {"id": "n-llm", "node_id": "llm", "node_type": "llm", "title": "LLM", "index": 1}
        self._publish(run, self._event(run, {"event": "workflow_started", "data": {"id": run.id}}))
        self._publish(run, self._event(run, {"event": "node_started", "data": llm}))
        resume_at: int | None = None
        for index, step in enumerate(flow.steps):
            if index == flow.break_after:
                self._break(run, flow.break_kind)
                away = flow.while_away
                resume_at = len(flow.steps) + 1 if away is None else index + away
            if index == resume_at:
                await run.listening.wait()
            if isinstance(step, Until):
                while not step.condition():
                    await asyncio.sleep(0.01)
                continue
            if isinstance(step, Form):
                await self._wait_for_answer(run, step)
                continue
            event = self._event(run, step)
            self._publish(run, event)
            if event["event"] == "error":
                run.status = "failed"
                self._end(run)
                return
            await asyncio.sleep(0)
        run.status = "succeeded"
        run.stored_answer, run.retriever_resources = run.answer, flow.citations
        metadata = {"usage": {"total_tokens": 10}, "retriever_resources": flow.citations}
        self._publish(run, self._event(run, {"event": "message_end", "metadata": metadata}))
        self._publish(run, self._finished(run))
        self._end(run)

    async def _wait_for_answer(self, run: Run, form: Form) -> None:
        form_id = str(uuid.uuid4())
        token = "" if form.by_email else uuid.uuid4().hex
        state = FormState(run, form, form_id, token, time.time() + form.expires_in)
        self.forms[token or form_id] = state
        data = {
            "form_id": form_id,
            "node_id": "human-input",
            "node_title": form.title,
            "form_content": form.content,
            "inputs": [dict(i) for i in form.inputs],
            "actions": [dict(a) for a in form.actions],
            "display_in_ui": not form.by_email,
            "form_token": token or None,
            "resolved_default_values": {},
            "expiration_time": int(state.expires_at),
        }
        reason = {"type": "human_input_required", "form_id": form_id, "node_id": "human-input"}
        run.pause = [
            self._event(run, {"event": "human_input_required", "data": data}),
            self._event(
                run,
                {
                    "event": "workflow_paused",
                    "data": {"workflow_run_id": run.id, "reasons": [reason], "status": "paused"},
                },
            ),
        ]
        for event in run.pause:
            self._publish(run, event)
        run.status = "paused"
        self._end(run)  # the stream ends without message_end
        run.listening.clear()
        await state.answered.wait()
        run.status, run.pause = "running", []
        answer = state.answer or {}
        filled = {
            "form_id": form_id,
            "node_id": "human-input",
            "node_title": form.title,
            "rendered_content": form.content,
            "action_id": answer.get("action"),
            "action_text": next(
                (a["title"] for a in form.actions if a["id"] == answer.get("action")), ""
            ),
        }
        self._publish(run, self._event(run, {"event": "human_input_form_filled", "data": filled}))

    def _end(self, run: Run) -> None:
        for queue in run.listeners:
            queue.put_nowait(_END)
        run.listeners.clear()

    async def _serve(
        self, request: web.Request, queue: asyncio.Queue[Any] | None, first: list[Mapping[str, Any]]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in first:
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
        while queue is not None:
            item = await queue.get()
            if item is _END:
                break
            if isinstance(item, _Break):
                await self._cut(request, item.kind)
                return response
            await response.write(f"data: {json.dumps(item)}\n\n".encode())
        await response.write_eof()
        return response

    @staticmethod
    async def _cut(request: web.Request, kind: BreakKind) -> None:
        transport = request.transport
        if kind == "reset" and transport is not None:
            transport.abort()
        elif kind == "stall":  # silent until the client gives up
            while transport is not None and not transport.is_closing():
                await asyncio.sleep(0.05)
        # "eof": the handler returns and aiohttp ends the body cleanly


def _form_problem(form: Form, body: Any) -> str:
    """Why Dify would refuse this answer (400 ``invalid_form_data``), or ""."""
    if not isinstance(body, dict) or not isinstance(body.get("user"), str):
        return "user is required"
    inputs, action = body.get("inputs"), body.get("action")
    if not isinstance(inputs, dict):
        return "inputs is required"
    if action not in {a["id"] for a in form.actions}:
        return f"Invalid action: {action}"
    for field_ in form.inputs:
        name = field_["output_variable_name"]
        value = inputs.get(name)
        if not isinstance(value, str):
            return f"Missing required inputs: {name}"
        if field_["type"] != "paragraph" and not value:
            return f"Missing required inputs: {name}"
        options = field_.get("options")
        if field_["type"] == "select" and options and value not in options:
            return f"Invalid value for {name}"
    return ""


__all__ = [
    "KEY",
    "BreakKind",
    "FakeChatflow",
    "Flow",
    "Form",
    "FormState",
    "Recorded",
    "Run",
    "Step",
    "Until",
]
