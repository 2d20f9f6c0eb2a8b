"""One answer stream from Dify: its SSE events, retries before it starts, resume after a cut.

A chatflow's answer is produced by a workflow run that goes on inside Dify
when our connection breaks. Dify's Service API can reconnect to it
(``api/controllers/service_api/app/workflow_events.py``)::

    GET /workflow/{workflow_run_id}/events?user=…&include_state_snapshot=true

With the snapshot it first sends ``workflow_started``, a ``message_replace``
with the answer so far, the nodes run so far and any pause, then the live
events (``api/services/workflow_event_snapshot_service.py``); where Dify
keeps the run's event log it replays that log from its start instead. A run
that already finished answers with its one ``workflow_finished``. Another
user, an unknown run or a plain chat app get a 404 / 400.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError, aconnect_sse

from dify_bridge.dify.errors import describe, error_from_response
from dify_bridge.dify.events import StreamEvent, StreamResumed, ends_answer, parse_event
from dify_bridge.errors import (
    AuthFailed,
    DifyUnavailable,
    InvalidRequest,
    RateLimited,
    StreamCutOff,
)

log = logging.getLogger(__name__)

__all__ = ["RESUME_ATTEMPTS", "RETRY_ATTEMPTS", "AnswerStreamer"]

RETRY_ATTEMPTS = 4
"""Tries of one request when Dify is busy (429 too_many_requests) or unreachable."""

RESUME_ATTEMPTS = 3
"""Reconnections to a chatflow's workflow run after its stream broke, with backoff."""

Backoff = Callable[[int, float | None], Awaitable[None]]


@dataclass
class _Run:
    workflow_run_id: str = ""
    ended: bool = False
    """Dify said the answer is complete, or the chatflow paused."""
    finished: bool = False
    """A ``workflow_finished`` came, whatever its status: nothing more will."""


class AnswerStreamer:
    """Streams answers of one app over the shared HTTP client."""

    def __init__(
        self, http: httpx.AsyncClient, base: str, headers: Mapping[str, str], backoff: Backoff
    ) -> None:
        self._http = http
        self._base = base
        self._headers = dict(headers)
        self._backoff = backoff

    async def chat(self, body: Mapping[str, Any]) -> AsyncGenerator[StreamEvent, None]:
        """``POST /chat-messages``, resumed through its workflow run if the stream breaks."""
        run = _Run()
        try:
            async for event in self._post(body, run):
                yield event
            return
        except StreamCutOff as exc:
            if not run.workflow_run_id or run.finished:
                raise
            cut = exc
        async for event in self._resume(run, str(body.get("user") or ""), cut):
            yield event

    async def follow(self, run_id: str, user: str) -> AsyncGenerator[StreamEvent, None]:
        """A chatflow's run after its form was submitted, from a snapshot of the answer so
        far (events sent before we listen are not replayed), reconnected if it breaks."""
        run = _Run(workflow_run_id=run_id)
        try:
            async for event in self._listen(run, user):
                yield event
            return
        except StreamCutOff as exc:
            if run.finished:
                raise
            cut = exc
        except httpx.HTTPError as exc:
            if run.ended:
                return
            cut = StreamCutOff(_problem(exc, True))
        async for event in self._resume(run, user, cut):
            yield event

    async def _listen(self, run: _Run, user: str) -> AsyncIterator[StreamEvent]:
        async with aconnect_sse(
            self._http,
            "GET",
            f"{self._base}/workflow/{run.workflow_run_id}/events",
            params={"user": user, "include_state_snapshot": "true"},
            headers=self._headers,
        ) as source:
            await _check(source)
            async for event in _events(source, run):
                yield event

    async def _post(self, body: Mapping[str, Any], run: _Run) -> AsyncIterator[StreamEvent]:
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            received_bytes = False
            try:
                async with aconnect_sse(
                    self._http,
                    "POST",
                    f"{self._base}/chat-messages",
                    json=dict(body),
                    headers=self._headers,
                ) as source:
                    await _check(source)
                    received_bytes = True
                    async for event in _events(source, run):
                        yield event
                    return
            except RateLimited as exc:
                if not exc.retryable or attempt == RETRY_ATTEMPTS:
                    raise
                await self._backoff(attempt, exc.retry_after)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == RETRY_ATTEMPTS:
                    raise DifyUnavailable(f"cannot connect to Dify: {describe(exc)}") from None
                await self._backoff(attempt, None)
            except SSEError as exc:
                raise DifyUnavailable(f"Dify did not answer with an event stream: {exc}") from None
            except httpx.HTTPError as exc:
                if run.ended:  # the answer is whole; what comes after it does not matter
                    log.info("Dify's stream ended untidily after the answer: %s", describe(exc))
                    return
                problem = _problem(exc, received_bytes)
                if received_bytes:
                    raise StreamCutOff(problem) from None
                raise DifyUnavailable(problem) from None

    async def _resume(self, run: _Run, user: str, cut: StreamCutOff) -> AsyncIterator[StreamEvent]:
        run_id = run.workflow_run_id
        for attempt in range(1, RESUME_ATTEMPTS + 1):
            log.info("%s; resuming workflow run %s (try %d)", cut, run_id, attempt)
            yield StreamResumed(workflow_run_id=run_id, attempt=attempt)
            await self._backoff(attempt, None)
            try:
                async for event in self._listen(run, user):
                    yield event
                return
            except StreamCutOff as exc:
                cut = exc
            except (RateLimited, DifyUnavailable) as exc:
                cut = StreamCutOff(f"resuming failed: {exc}")
            except (AuthFailed, InvalidRequest, SSEError) as exc:  # not this user's run
                log.warning("workflow run %s cannot be resumed: %s", run_id, exc)
                break
            except httpx.HTTPError as exc:
                if run.ended:
                    return
                cut = StreamCutOff(_problem(exc, True))
            if run.finished:
                break
        raise StreamCutOff(f"{cut} (workflow run {run_id} not resumed)")


async def _check(source: EventSource) -> None:
    response = source.response
    if response.status_code != 200:
        await response.aread()
        raise error_from_response(response)


async def _events(source: EventSource, run: _Run) -> AsyncIterator[StreamEvent]:
    """The events of one response; a response that ends before the answer is a cut."""
    async for sse in source.aiter_sse():
        if not sse.data:
            continue  # bare `event: ping` keep-alives
        try:
            payload = json.loads(sse.data)
        except json.JSONDecodeError:
            log.warning("skipping an SSE event that is not JSON (%d bytes)", len(sse.data))
            continue
        if not isinstance(payload, dict):
            continue
        run_id = payload.get("workflow_run_id")
        if isinstance(run_id, str) and run_id:
            run.workflow_run_id = run_id
        if payload.get("event") == "workflow_finished":
            run.finished = True
        event = parse_event(payload)
        if event is not None:
            run.ended = run.ended or ends_answer(event)
            yield event
    if not run.ended:
        raise StreamCutOff("Dify closed the stream before the answer was complete")


def _problem(exc: httpx.HTTPError, received_bytes: bool) -> str:
    if isinstance(exc, httpx.ReadTimeout):
        return "Dify stopped sending (read timeout)"
    what = "mid-stream" if received_bytes else "before the stream"
    return f"connection to Dify failed {what}: {describe(exc)}"
