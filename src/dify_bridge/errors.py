"""One exception tree for the whole bridge.

::

    BridgeError
    ├── ConfigError            a setting is missing or malformed (names the variable)
    ├── StoreError             the database cannot be opened or written
    ├── FileTooLarge           a download passed the cap that applies to it
    └── DifyError              anything Dify said or failed to say
        ├── AuthFailed             401 / 403: bad key, disabled app
        ├── ConversationNotFound   404 not_found on a conversation
        ├── MessageNotFound        404 on a message (feedback by another user)
        ├── RateLimited            429 (``retryable`` for too_many_requests)
        ├── InvalidRequest         400: invalid_param, app_unavailable, quota...
        ├── DifyUnavailable        5xx, connection failures, stalled streams
        │   └── StreamCutOff       the stream ended before Dify said the answer was complete
        └── StreamFailed           an ``error`` event or failed workflow mid-stream

Outside errors are translated where they enter (the Dify client, the store);
the bridge turns any of them into a short notice for the user.
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

    user_notice = "The assistant could not answer this time. Please try again."


class AuthFailed(DifyError):
    user_notice = "The assistant is not reachable with its current key. An admin needs to check it."


class ConversationNotFound(DifyError):
    user_notice = "This conversation no longer exists on the assistant's side."


class MessageNotFound(DifyError):
    user_notice = "That answer is no longer known to the assistant."


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

    user_notice = "The assistant is busy right now. Please try again in a minute."


class InvalidRequest(DifyError):
    user_notice = "The assistant rejected this message."


class DifyUnavailable(DifyError):
    user_notice = "The assistant is unavailable right now. Please try again in a moment."


class StreamCutOff(DifyUnavailable):
    """An answer stream ended (clean EOF, reset, read timeout) without ``message_end``,
    a successful ``workflow_finished`` or a pause: what arrived is only part of the answer.
    """

    user_notice = "The answer was cut off before it was complete. Please ask again."


class StreamFailed(DifyError):
    user_notice = "The assistant ran into an error while answering."
