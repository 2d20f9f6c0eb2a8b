"""Dify's wire shapes: JSON errors, SSE frames, usage and citation metadata."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

DEFAULT_ERROR_MESSAGES: dict[str, str] = {
    "unauthorized": "Access token is invalid",
    "not_found": "Not Found",
    "invalid_param": "Invalid parameter",
    "app_unavailable": "App unavailable, please check your app configurations.",
    "not_chat_app": "Please check if your app mode matches the right API route.",
    "provider_not_initialize": (
        "No valid model provider credentials found. Please go to Settings -> Model Provider "
        "to complete your provider credentials."
    ),
    "provider_quota_exceeded": (
        "Your quota for Dify Hosted Model Provider has been exhausted. Please go to "
        "Settings -> Model Provider to complete your own provider credentials."
    ),
    "model_currently_not_support": (
        "Dify Hosted OpenAI trial currently not support the GPT-4 model."
    ),
    "completion_request_error": "Completion request failed.",
    "too_many_requests": "Too many requests. Please try again later.",
    "rate_limit_error": "Rate Limit Error",
    "internal_server_error": (
        "The server encountered an internal error and was unable to complete your request."
    ),
    "forbidden": "The app's API service has been disabled.",
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message or DEFAULT_ERROR_MESSAGES.get(code, code)
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        return web.json_response(
            {"code": self.code, "message": self.message, "status": self.status},
            status=self.status,
            headers=self.headers,
        )


class ClientGone(Exception):
    """The client closed the connection, or the stream must end silently."""


def usage(query: str, answer: str, latency: float) -> dict[str, Any]:
    prompt = 40 + len(query.split()) * 2
    completion = max(1, len(answer.split()) * 4 // 3)
    prompt_price = prompt * 0.000001
    completion_price = completion * 0.000002
    return {
        "prompt_tokens": prompt,
        "prompt_unit_price": "0.001",
        "prompt_price_unit": "0.001",
        "prompt_price": f"{prompt_price:.7f}",
        "completion_tokens": completion,
        "completion_unit_price": "0.002",
        "completion_price_unit": "0.001",
        "completion_price": f"{completion_price:.7f}",
        "total_tokens": prompt + completion,
        "total_price": f"{prompt_price + completion_price:.7f}",
        "currency": "USD",
        "latency": round(latency, 6),
    }


def citation(index: int, given: Mapping[str, Any]) -> dict[str, Any]:
    base: dict[str, Any] = {
        "position": index + 1,
        "dataset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataset-{index}")),
        "dataset_name": "Demo knowledge",
        "document_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"document-{index}")),
        "document_name": f"document-{index + 1}.md",
        "segment_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"segment-{index}")),
        "score": round(0.95 - index * 0.07, 4),
        "content": "",
    }
    base.update(given)
    return base


class Sse:
    """Serialised writes of SSE frames onto one response."""

    def __init__(self, request: web.Request, resp: web.StreamResponse) -> None:
        self.request = request
        self.resp = resp
        self.lock = asyncio.Lock()

    def gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()

    async def write_raw(self, data: bytes) -> None:
        if self.gone():
            raise ClientGone
        async with self.lock:
            try:
                await self.resp.write(data)
            except (ConnectionError, RuntimeError) as exc:
                raise ClientGone from exc

    async def send(self, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False)
        await self.write_raw(f"data: {body}\n\n".encode())

    async def ping(self) -> None:
        await self.write_raw(b"event: ping\n\n")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
