"""Dify's HTTP error answers translated once into the bridge's exception tree."""

from __future__ import annotations

import httpx

from dify_bridge.errors import (
    AuthFailed,
    ConversationNotFound,
    DifyError,
    DifyUnavailable,
    InvalidRequest,
    MessageNotFound,
    RateLimited,
)

__all__ = ["describe", "error_from_response", "retry_after_of"]


def describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def error_from_response(
    response: httpx.Response,
) -> DifyError:
    """Translate an HTTP error answer from Dify into the typed error."""
    status = response.status_code
    code, text = "", ""
    try:
        body = response.json()
        if isinstance(body, dict):
            code = str(body.get("code") or "")
            text = str(body.get("message") or "")
    except ValueError:
        text = response.text[:200]
    detail = f"Dify {status} {code}: {text}".strip()
    if status in (401, 403):
        return AuthFailed(detail, status=status, code=code)
    if status == 404:
        # Dify says which thing is gone; any other 404 (a wrong API base, a proxy
        # page) must not be taken for a lost conversation and wipe its context
        lowered = text.lower()
        if code == "not_found" and "conversation" in lowered:
            return ConversationNotFound(detail, status=status, code=code)
        if code == "not_found" and "message" in lowered:
            return MessageNotFound(detail, status=status, code=code)
        return InvalidRequest(detail, status=status, code=code)
    if status == 429:
        retry_after = retry_after_of(response.headers.get("Retry-After"))
        return RateLimited(detail, status=status, code=code, retry_after=retry_after)
    if status >= 500:
        return DifyUnavailable(detail, status=status, code=code)
    return InvalidRequest(detail, status=status, code=code)


def retry_after_of(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
