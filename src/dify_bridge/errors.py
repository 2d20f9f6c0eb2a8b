"""One exception tree for the whole bridge.

::

    BridgeError
    ├── ConfigError            a setting is missing or malformed (names the variable)
    ├── StoreError             the database cannot be opened or written
    ├── FileTooLarge           a download passed the cap that applies to it
    ├── SinkError              a platform refused or failed a call that shows an answer
    └── DifyError              anything Dify said or failed to say
        ├── AuthFailed             401 / 403: bad key, disabled app
        ├── ConversationNotFound   404 not_found on a conversation
        ├── MessageNotFound        404 on a message (feedback by another user)
        ├── RateLimited            429 (``retryable`` for too_many_requests)
        ├── InvalidRequest         400: invalid_param, app_unavailable, quota...
        ├── DifyUnavailable        5xx, connection failures, stalled streams
        │   └── StreamCutOff       the stream ended before Dify said the answer was complete
        └── StreamFailed           an ``error`` event or failed workflow mid-stream

Outside errors are translated where they enter (the Dify client, the store,
each adapter's sink); the engine catches these and nothing wider, and turns
each into a short notice for the user (:mod:`dify_bridge.core.notices`).
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """A setting is missing or malformed."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class SinkError(BridgeError):
    """A platform call that shows an answer failed; ``reason`` is the platform's word for it."""

    def __init__(self, call: str, reason: str) -> None:
        super().__init__(f"{call} failed: {reason}")
        self.call = call
        self.reason = reason


class StoreError(BridgeError):
    """The store cannot be opened, migrated or written."""


class FileTooLarge(BridgeError):
    """A body (a user's file, a spoken answer) is larger than the cap that applies to it.

    ``size`` is what was declared or received when the download stopped: at
    least one byte over ``limit``, not necessarily the whole size.
    """

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"larger than the {limit} bytes allowed (at least {size})")
        self.limit = limit
        self.size = size


class DifyError(BridgeError):
    """Dify refused the request or could not be reached."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AuthFailed(DifyError):
    """401 / 403: a bad key or a disabled app."""


class ConversationNotFound(DifyError):
    """404 ``not_found`` on a conversation: it is gone on Dify's side."""


class MessageNotFound(DifyError):
    """404 on a message (feedback by another user, a deleted answer)."""


class RateLimited(DifyError):
    """429. ``retryable`` is True for ``too_many_requests`` (a concurrency slot)."""

    def __init__(
        self, message: str, *, status: int = 429, code: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.code != "rate_limit_error"


class InvalidRequest(DifyError):
    """400 and other refusals: invalid_param, app_unavailable, quota..."""


class DifyUnavailable(DifyError):
    """5xx, connection failures, stalled streams."""


class StreamCutOff(DifyUnavailable):
    """An answer stream ended (clean EOF, reset, read timeout) without ``message_end``,
    a successful ``workflow_finished`` or a pause: what arrived is only part of the answer.
    """


class StreamFailed(DifyError):
    """An ``error`` event or a failed workflow in the middle of a stream."""


__all__ = [
    "AuthFailed",
    "BridgeError",
    "ConfigError",
    "ConversationNotFound",
    "DifyError",
    "DifyUnavailable",
    "FileTooLarge",
    "InvalidRequest",
    "MessageNotFound",
    "RateLimited",
    "SinkError",
    "StoreError",
    "StreamCutOff",
    "StreamFailed",
]
