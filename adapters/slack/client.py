"""The Slack Web API seam: one configured client, and its errors translated once.

::

    SinkError
    └── SlackCallFailed          a Web API call failed (names the method and Slack's code)
        └── SlackMessageTooLong      msg_too_long: the text must go into a new message

429s are retried by slack-sdk (``AsyncRateLimitErrorRetryHandler`` sleeps for
``Retry-After``); each one is also reported to ``on_rate_limited`` so the
workspace's edit budget can back off for every answer, not only the one that
was refused. Nothing logged here contains a token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from dify_bridge.core import SinkError

__all__ = [
    "RateLimitObserver",
    "SlackCallFailed",
    "SlackMessageTooLong",
    "call_slack",
    "make_web_client",
]

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 8
"""429s one call sits out before it gives up (Slack says how long to wait each time)."""

RateLimitObserver = Callable[[str, float], None]
"""Called with (API method, Retry-After seconds) for every 429 Slack answers."""


class SlackCallFailed(SinkError):
    """A Slack Web API call failed; ``error`` is Slack's code (or the transport error)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack {method}", error)
        self.method = method
        self.error = error


class SlackMessageTooLong(SlackCallFailed):
    """Slack refused the text as too long (``msg_too_long``)."""


class _ObservedRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 retry, plus a report of each 429 before it sleeps."""

    def __init__(self, observer: RateLimitObserver | None, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._observer = observer

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is not None and self._observer is not None:
            method = request.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
            retry_after = _retry_after(response)
            log.warning("Slack rate-limited %s; retrying in %.0f s", method, retry_after)
            self._observer(method, retry_after)
        await super().prepare_for_next_attempt_async(
            state=state, request=request, response=response, error=error
        )


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            value = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


def make_web_client(
    token: str | None,
    base_url: str,
    *,
    on_rate_limited: RateLimitObserver | None = None,
    timeout: int = 30,
) -> AsyncWebClient:
    """A client for ``base_url`` that waits out 429s and retries dropped connections."""
    web_logger = logging.getLogger("dify_bridge.adapters.slack.web")
    # slack-sdk logs request headers (the token) at DEBUG: keep this logger above that
    web_logger.setLevel(logging.INFO)
    handlers: list[AsyncRetryHandler] = [
        _ObservedRateLimitRetryHandler(on_rate_limited, RATE_LIMIT_RETRIES),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        logger=web_logger,
        retry_handlers=handlers,
        user_agent_prefix="dify-bridge",
    )


async def call_slack(method: str, call: Awaitable[AsyncSlackResponse]) -> dict[str, Any]:
    """Await one Web API call; translate every failure into :class:`SlackCallFailed`."""
    try:
        response = await call
    except SlackApiError as exc:
        # a proxy or an outage may answer with a page, not Slack's JSON
        data = exc.response.data
        error = str(data.get("error", "")) if isinstance(data, dict) else ""
        error = error or f"HTTP {exc.response.status_code}"
        if error == "msg_too_long":
            raise SlackMessageTooLong(method, error) from None
        raise SlackCallFailed(method, error) from None
    except (TimeoutError, SlackClientError, aiohttp.ClientError) as exc:
        raise SlackCallFailed(method, type(exc).__name__) from None
    data = response.data
    return data if isinstance(data, dict) else {}
