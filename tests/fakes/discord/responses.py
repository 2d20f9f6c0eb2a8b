"""REST answers in Discord's shape: exact JSON content type, 429s, ``{message, code}`` errors."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web


def json_reply(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # exactly "application/json": discord.py parses nothing else (no charset suffix)
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", "Via": "1.1 google", **(headers or {})},
    )


def too_many(
    retry_after: float, *, is_global: bool = False, bucket: str = "injected"
) -> web.Response:
    headers = {
        "Retry-After": str(max(1, round(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": "global" if is_global else "user",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
        "code": 0,
    }
    return json_reply(body, status=429, headers=headers)


class ApiError(Exception):
    """An error answer in Discord's shape (``{"message", "code"}``)."""

    def __init__(self, status: int, message: str, code: int) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def not_found(message: str, code: int) -> ApiError:
    return ApiError(404, message, code)
