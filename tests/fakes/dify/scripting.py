"""How a test steers the fake Dify: scripted answers, errors, conversations, recordings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tests.fakes.dify.records import (
    Failure,
    FakeConversation,
    FakeMessage,
    RecordedRequest,
    ScriptedAnswer,
    split_chunks,
)
from tests.fakes.dify.state import DifyState


class Scripting(DifyState):
    """The test-facing half of :class:`~tests.fakes.dify.FakeDify`."""

    def script(
        self,
        answer: str | Sequence[str],
        *,
        delay: float | None = None,
        events: Sequence[dict[str, Any]] | None = None,
        citations: Sequence[dict[str, Any]] | None = None,
        files: Sequence[dict[str, Any]] | None = None,
        stall_after: int | None = None,
        error_after: int | None = None,
        reset_after: int | None = None,
        end_after: int | None = None,
        human_input: Mapping[str, Any] | None = None,
        replace_with: str | None = None,
        agent_thoughts: Sequence[dict[str, Any]] | None = None,
        tts: bool = False,
        workflow_error: str | None = None,
        workflow_finished_first: bool = False,
        error_status: int = 400,
        error_code: str = "completion_request_error",
        error_message: str = "[openai] Error: Request timed out.",
        events_after: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Queue the answer for the next ``POST /chat-messages`` (FIFO).

        ``answer`` is a whole text (streamed in small word-ish chunks) or an
        explicit list of chunks. ``delay`` overrides ``chunk_delay``.
        ``events`` are extra events sent before the answer (after the
        workflow/node preamble of chatflow apps); ``events_after`` after the
        last chunk. An event dict is sent as ``data: {json}`` with
        ``task_id``/``message_id``/``conversation_id``/``created_at`` filled
        in when absent; ``{"raw": "..."}`` is written verbatim and
        ``{"event": "ping"}`` is a keep-alive.

        Faults, counted in chunks sent: ``stall_after`` goes silent (no
        pings) until the client leaves; ``error_after`` sends an ``error``
        event (``error_status``/``error_code``/``error_message``) and ends;
        ``reset_after`` aborts the TCP connection; ``end_after`` ends the
        response cleanly (the HTTP body is complete) with no ``message_end``,
        ``error`` or ``workflow_finished``. ``workflow_error`` (chatflow
        only) ends the answer with a failed ``workflow_finished`` and an
        ``error`` event, without ``message_end``.

        ``human_input`` (chatflow only) is a Human Input node after the answer
        so far: the stream sends ``human_input_required`` (the default form,
        updated with the given fields) and ``workflow_paused``, then ends
        without ``message_end``, as Dify does while the workflow waits.

        ``replace_with`` sends a ``message_replace`` after the chunks;
        ``citations`` become ``message_end.metadata.retriever_resources``;
        ``files`` are sent as ``message_file`` events (and listed in
        ``message_end.files``); ``agent_thoughts`` are sent before the answer
        of an agent app; ``tts`` adds ``tts_message`` / ``tts_message_end``.
        """
        chunks = split_chunks(answer) if isinstance(answer, str) else list(answer)
        if human_input is not None and self.mode != "advanced-chat":
            raise ValueError("only a chatflow (advanced-chat) app has Human Input nodes")
        self._scripts.append(
            ScriptedAnswer(
                chunks=chunks,
                delay=delay,
                events=[dict(e) for e in events or ()],
                citations=[dict(c) for c in citations or ()],
                files=[dict(f) for f in files or ()],
                stall_after=stall_after,
                error_after=error_after,
                error_status=error_status,
                error_code=error_code,
                error_message=error_message,
                reset_after=reset_after,
                end_after=end_after,
                human_input=dict(human_input) if human_input is not None else None,
                replace_with=replace_with,
                agent_thoughts=[dict(t) for t in agent_thoughts or ()],
                tts=tts,
                workflow_error=workflow_error,
                workflow_finished_first=workflow_finished_first,
                events_after=[dict(e) for e in events_after or ()],
            )
        )

    @property
    def pending_scripts(self) -> int:
        """How many scripted answers are still queued."""
        return len(self._scripts)

    def fail_next(
        self,
        status: int,
        code: str,
        message: str = "",
        *,
        times: int = 1,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` ``POST /chat-messages`` with this JSON error."""
        for _ in range(times):
            self._failures.append(Failure(status, code, message, retry_after))

    def delete_conversation(self, conversation_id: str) -> None:
        """Forget a conversation as if it had been deleted in Dify."""
        conv = self.conversations.pop(conversation_id, None)
        self.deleted.add(conversation_id)
        if conv is not None:
            for msg in conv.messages:
                self.messages.pop(msg.id, None)

    def create_conversation(
        self, user: str, *, api_key: str | None = None, queries: Sequence[str] = ()
    ) -> FakeConversation:
        """Make a conversation directly (e.g. one that exists before a test)."""
        key = api_key if api_key is not None else next(iter(sorted(self.api_keys)))
        conv = FakeConversation(id=str(uuid.uuid4()), api_key=key, user=user)
        if queries:
            conv.name = queries[0][:40]
        self.conversations[conv.id] = conv
        for query in queries:
            msg = FakeMessage(
                id=str(uuid.uuid4()),
                conversation_id=conv.id,
                user=user,
                query=query,
                answer=self._default_answer(conv, query),
            )
            conv.messages.append(msg)
            self.messages[msg.id] = msg
        return conv

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of every ``POST /chat-messages``, in order."""
        return [
            r.json
            for r in self.requests
            if r.method == "POST" and r.path == "/v1/chat-messages" and isinstance(r.json, dict)
        ]

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path (without ``/v1``) equals ``path``."""
        full = "/v1" + path if not path.startswith("/v1") else path
        return [
            r for r in self.requests if r.path == full and (method is None or r.method == method)
        ]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Poll ``condition`` until it holds (wrap in ``asyncio.timeout`` to bound it).

        E.g. ``await fake.wait_until(lambda: fake.active_streams == 1)``.
        """
        while not condition():
            await asyncio.sleep(0.01)
