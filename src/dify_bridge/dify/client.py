"""The Dify Service API client: HTTP and SSE in, typed events and errors out.

One :class:`httpx.AsyncClient` is shared by every :class:`DifyClient` of the
process (per API base, see :class:`HttpPool`); tests hand in a client bound
to a local fake server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

import httpx

from dify_bridge.dify.errors import describe, error_from_response
from dify_bridge.dify.events import StreamEvent
from dify_bridge.dify.streaming import RETRY_ATTEMPTS, AnswerStreamer
from dify_bridge.dify.types import Rating
from dify_bridge.downloads import (
    MAX_DOWNLOAD_BYTES,
    check_declared,
    content_length,
    read_capped,
)
from dify_bridge.errors import (
    DifyUnavailable,
    FileTooLarge,
    RateLimited,
)

log = logging.getLogger(__name__)


def make_http_client(
    *, connect_timeout: float = 10.0, read_timeout: float = 60.0, max_connections: int = 1000
) -> httpx.AsyncClient:
    """The process-wide pooled client. ``read_timeout`` bounds silence within a stream."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=30.0, pool=None),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=100),
        headers={"User-Agent": "dify-bridge"},
    )


class DifyClient:
    """Talks to one Dify app (one API base and key) over a shared HTTP client."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        http: httpx.AsyncClient,
        *,
        retry_base_delay: float = 0.5,
    ) -> None:
        self._base = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._http = http
        self._retry_base_delay = retry_base_delay

    def __repr__(self) -> str:
        return f"DifyClient({self._base!r})"

    @property
    def api_url(self) -> str:
        return self._base

    async def stream_chat(
        self,
        *,
        query: str,
        user: str,
        conversation_id: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        files: Sequence[Mapping[str, Any]] = (),
        auto_generate_name: bool = True,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Send one chat turn and yield its events as they arrive.

        Errors before the first byte raise the typed :class:`DifyError`
        subclasses (retrying 429 ``too_many_requests`` and connection failures
        a few times); an ``error`` event raises :class:`StreamFailed`.

        Returning normally means Dify said the answer is complete
        (``message_end``, a successful ``workflow_finished``) or that the
        chatflow paused for a person. A stream that ends any other way, by a
        clean EOF, a broken connection or a stall past the read timeout, is
        a cut: a chatflow's is resumed through its workflow run (a
        :class:`StreamResumed` event, then the answer restated from its
        start; see :mod:`dify_bridge.dify.streaming`), anything else, or a
        run that cannot be resumed, raises :class:`StreamCutOff`: the events
        yielded were only part of the answer. Trouble after the answer is
        complete is only logged.
        """
        body: dict[str, Any] = {
            "query": query,
            "inputs": dict(inputs or {}),
            "user": user,
            "response_mode": "streaming",
            "conversation_id": conversation_id or "",
            "auto_generate_name": auto_generate_name,
        }
        if files:
            body["files"] = [dict(f) for f in files]
        streamer = AnswerStreamer(self._http, self._base, self._headers, self._backoff)
        async with contextlib.aclosing(streamer.chat(body)) as events:
            async for event in events:
                yield event

    async def submit_form(
        self, form_token: str, *, inputs: Mapping[str, Any], action: str, user: str
    ) -> None:
        """``POST /form/human_input/{form_token}``: a Human Input node's answer, as ``user``
        (the thread's Dify user). 412 / 400 leave as :class:`InvalidRequest` with Dify's code."""
        body = {"inputs": dict(inputs), "action": action, "user": user}
        await self._request("POST", f"/form/human_input/{form_token}", json=body)

    async def follow_run(
        self, workflow_run_id: str, *, user: str
    ) -> AsyncGenerator[StreamEvent, None]:
        """The events of a chatflow run that goes on after a form was submitted
        (``GET /workflow/{run}/events``), until its answer is complete."""
        streamer = AnswerStreamer(self._http, self._base, self._headers, self._backoff)
        async with contextlib.aclosing(streamer.follow(workflow_run_id, user)) as events:
            async for event in events:
                yield event

    async def send_feedback(
        self, message_id: str, rating: Rating | None, *, user: str, content: str | None = None
    ) -> None:
        """Rate a message (``None`` revokes). Only the message's own user may rate it."""
        body: dict[str, Any] = {"rating": rating.value if rating else None, "user": user}
        if content:
            body["content"] = content
        await self._request("POST", f"/messages/{message_id}/feedbacks", json=body)

    async def stop(self, task_id: str, *, user: str) -> None:
        """Ask Dify to stop generating (a wrong user is silently ignored by Dify)."""
        await self._request("POST", f"/chat-messages/{task_id}/stop", json={"user": user})

    async def parameters(self, *, user: str = "dify-bridge") -> dict[str, Any]:
        """The app's settings: opening statement, suggestions, input form, file rules."""
        return await self._request("GET", "/parameters", params={"user": user})

    async def info(self) -> dict[str, Any]:
        """The app's name, description and mode (``chat``, ``advanced-chat``, ...)."""
        return await self._request("GET", "/info")

    async def find_message(
        self, conversation_id: str, message_id: str, *, user: str
    ) -> dict[str, Any] | None:
        """One of the latest messages of a conversation as Dify stored it (``answer``,
        ``retriever_resources``), or None when it is not among them."""
        data = await self._request(
            "GET",
            "/messages",
            params={"conversation_id": conversation_id, "user": user, "limit": "5"},
        )
        items = data.get("data")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("id") == message_id:
                return item
        return None

    async def delete_conversation(self, conversation_id: str, *, user: str) -> None:
        await self._request("DELETE", f"/conversations/{conversation_id}", json={"user": user})

    async def suggested(self, message_id: str, *, user: str) -> list[str]:
        data = await self._request(
            "GET", f"/messages/{message_id}/suggested", params={"user": user}
        )
        items = data.get("data")
        return [q for q in items if isinstance(q, str)] if isinstance(items, list) else []

    async def upload_file(self, name: str, mime_type: str, data: bytes, *, user: str) -> str:
        """Upload a file as ``user`` (the file belongs to that user); return its id."""
        body = await self._post_file("/files/upload", name, mime_type, data, user=user)
        file_id = body.get("id")
        if not isinstance(file_id, str):
            raise DifyUnavailable("Dify's upload answer has no file id")
        return file_id

    async def audio_to_text(self, name: str, mime_type: str, data: bytes, *, user: str) -> str:
        """Transcribe speech (mp3, m4a, wav, webm, mp4, mpeg, mpga; at most 15 MB)."""
        body = await self._post_file("/audio-to-text", name, mime_type, data, user=user)
        text = body.get("text")
        return text if isinstance(text, str) else ""

    async def _post_file(
        self, path: str, name: str, mime_type: str, data: bytes, *, user: str
    ) -> dict[str, Any]:
        """A multipart upload (one file and the user), never retried: uploads are not idempotent."""
        try:
            response = await self._http.post(
                f"{self._base}{path}",
                headers=self._headers,
                data={"user": user},
                files={"file": (name, data, mime_type or "application/octet-stream")},
            )
        except httpx.HTTPError as exc:
            raise DifyUnavailable(f"upload to Dify {path} failed: {describe(exc)}") from None
        if response.status_code >= 400:
            raise error_from_response(response)
        try:
            body = response.json()
        except ValueError:
            raise DifyUnavailable(f"Dify {path} answered with something that is not JSON") from None
        return body if isinstance(body, dict) else {}

    async def text_to_audio(
        self,
        *,
        user: str,
        message_id: str = "",
        text: str = "",
        max_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> bytes:
        """Spoken audio (mp3) of an answer, by ``message_id`` or ``text``.

        Read whole but no further than ``max_bytes``: a longer body, or one cut
        short of its ``Content-Length``, raises :class:`DifyUnavailable`.
        """
        body: dict[str, str] = {"user": user}
        if message_id:
            body["message_id"] = message_id
        if text:
            body["text"] = text
        try:
            async with self._http.stream(
                "POST", f"{self._base}/text-to-audio", headers=self._headers, json=body
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_from_response(response)
                check_declared(content_length(response.headers), max_bytes)
                return await read_capped(response.aiter_bytes(), max_bytes)
        except FileTooLarge as exc:
            raise DifyUnavailable(f"Dify's spoken answer is too large: {exc}") from None
        except httpx.HTTPError as exc:
            raise DifyUnavailable(f"text-to-speech request failed: {describe(exc)}") from None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                response = await self._http.request(
                    method, f"{self._base}{path}", json=json, params=params, headers=self._headers
                )
                if response.status_code >= 400:
                    raise error_from_response(response)
            except RateLimited as exc:
                if not exc.retryable or attempt == RETRY_ATTEMPTS:
                    raise
                await self._backoff(attempt, exc.retry_after)
                continue
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == RETRY_ATTEMPTS:
                    raise DifyUnavailable(f"cannot connect to Dify: {describe(exc)}") from None
                await self._backoff(attempt, None)
                continue
            except httpx.HTTPError as exc:
                raise DifyUnavailable(f"request to Dify failed: {describe(exc)}") from None
            if response.status_code == 204 or not response.content:
                return {}
            try:
                data = response.json()
            except ValueError:
                raise DifyUnavailable("Dify answered with something that is not JSON") from None
            return data if isinstance(data, dict) else {"data": data}
        raise AssertionError("unreachable")

    async def _backoff(self, attempt: int, retry_after: float | None) -> None:
        delay = self._retry_base_delay * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if retry_after is not None:
            delay = max(delay, min(retry_after, 30.0))
        log.info("Dify busy or unreachable; retry %d in %.1f s", attempt, delay)
        await asyncio.sleep(delay)


__all__ = [
    "RETRY_ATTEMPTS",
    "DifyClient",
    "make_http_client",
]
