"""Where a request from Slack meets bolt: the adapter's one task boundary.

Both transports (HTTP and Socket Mode) hand every admitted request to
:func:`dispatch`. bolt runs the listeners and sends whatever they raise to
its error handler, :func:`on_bolt_error`: one log line, no traceback, and a
200 (the request was Slack's; Slack would only send it again, and a
subscription that keeps failing gets disabled). The exception is
:class:`StoreUnreachable`: authorization could not read the store, so a 503
has Slack send the request again once it can. What bolt itself raises while
reading a payload it cannot make sense of (an ``event`` that is a string)
leaves :func:`dispatch` as :class:`UnreadableRequest`, one line about it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltError, BoltUnhandledRequestError
from slack_bolt.request.async_request import AsyncBoltRequest

from .http import brief_error, kind_of

__all__ = ["StoreUnreachable", "UnreadableRequest", "dispatch", "on_bolt_error"]

log = logging.getLogger(__name__)


class UnreadableRequest(Exception):
    """bolt could not read a request; the message says why in one line."""


async def dispatch(
    app: AsyncApp,
    body: str | dict[str, Any],
    headers: dict[str, str | Sequence[str]] | None,
    *,
    query: str | None = None,
    mode: str = "http",
) -> BoltResponse:
    """bolt's response to one request; :class:`UnreadableRequest` if bolt cannot read it."""
    try:
        request = AsyncBoltRequest(body=body, query=query, headers=headers, mode=mode)
        return await app.async_dispatch(request)
    except Exception as exc:  # bolt's boundary: it raises anything for a payload it misreads
        raise UnreadableRequest(brief_error(exc)) from None


class StoreUnreachable(BoltError):
    """Authorization could not read the store: Slack should send the request again."""


async def on_bolt_error(
    error: Exception, body: Any, response: BoltResponse | None
) -> BoltResponse | None:
    """bolt's error handler, for middleware and listeners alike: one line, and a 200
    (a 503 when authorization could not read the store, so Slack sends it again).

    After the ack bolt passes no ``response``: answering one then is an AssertionError
    in bolt's task, which asyncio would log with its traceback."""
    if isinstance(error, StoreUnreachable):
        log.error("Slack %s not authorized (%s); answered 503", kind_of(body), brief_error(error))
        return BoltResponse(status=503, body="")
    if isinstance(error, BoltUnhandledRequestError):
        log.info("Slack %s has no listener; acknowledged and ignored", kind_of(body))
    else:
        log.warning(
            "Slack %s not handled (%s); acknowledged and dropped", kind_of(body), brief_error(error)
        )
    return None if response is None else BoltResponse(status=200, body="")
