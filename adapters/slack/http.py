"""What ``POST /slack/events`` checks before slack-bolt sees a request.

Anyone on the internet can reach the events URL, so every request is
checked in this order, each failure answered at once with one log line and
nothing passed on:

1. size: more than :data:`MAX_BODY_BYTES` is 413 (``Content-Length`` is
   checked before reading; a chunked body is cut off while it is read);
2. signature: both headers present (once each), the timestamp ASCII digits
   within five minutes of now, the body UTF-8, and slack-sdk's
   ``SignatureVerifier`` agreeing; anything else is 401. slack-sdk itself
   calls ``int()`` on the timestamp (a ``ValueError`` for ``"soon"``),
   ``hmac.compare_digest`` on the signature (a ``TypeError`` for non-ASCII)
   and ``bytes.decode`` on the body, so those are settled here first;
3. shape: the body parses the way slack-bolt will parse it (JSON, or a form
   whose ``payload`` field is JSON) into an object; otherwise 400.

Slack's certificate check (``ssl_check=1``, which Slack sends unsigned) is
answered 200 here. Pure functions; no I/O.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from multidict import CIMultiDictProxy
from slack_sdk.signature import SignatureVerifier

__all__ = [
    "MAX_BODY_BYTES",
    "TIMESTAMP_WINDOW",
    "Refused",
    "SlackRequestGate",
    "brief_error",
    "check_shape",
    "kind_of",
]

MAX_BODY_BYTES = 1024 * 1024
"""Slack's own payloads are far smaller (a message is at most 40,000 characters)."""
TIMESTAMP_WINDOW = 5 * 60
"""Seconds a signed request stays valid (Slack's replay protection)."""

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_SSL_CHECK_FIELDS = frozenset({"ssl_check", "token"})


@dataclass
class Refused(Exception):
    """The answer to a request that goes no further, and why (for the log line)."""

    status: int
    reason: str
    level: int = logging.INFO


class SlackRequestGate:
    """Decides, from the raw bytes and headers, whether a request may go on to bolt."""

    def __init__(self, signing_secret: str, clock: Callable[[], float] = time.time) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self._clock = clock

    def admit(self, raw: bytes, headers: CIMultiDictProxy[str]) -> str | None:
        """The body as text for bolt, or None for an unsigned ``ssl_check`` (answer 200).

        Raises :class:`Refused` for everything else that must not reach bolt.
        """
        timestamps = headers.getall(TIMESTAMP_HEADER, [])
        signatures = headers.getall(SIGNATURE_HEADER, [])
        if not timestamps and not signatures and _is_ssl_check(raw, headers):
            return None
        if len(timestamps) != 1 or len(signatures) != 1:
            raise Refused(401, "not signed (Slack signature headers missing or repeated)")
        timestamp, signature = timestamps[0], signatures[0]
        if not _TIMESTAMP.fullmatch(timestamp):
            raise Refused(401, "signature timestamp is not a number")
        skew = self._clock() - int(timestamp)
        if abs(skew) > TIMESTAMP_WINDOW:
            raise Refused(
                401,
                f"signature timestamp is {abs(int(skew))} s "
                f"{'old' if skew > 0 else 'in the future'} (a replay, or a wrong clock)",
                logging.WARNING,
            )
        if not _SIGNATURE.fullmatch(signature):
            raise Refused(401, "signature is not of the form v0=<hex>")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(401, "body is not UTF-8, so it cannot be verified") from None
        try:
            valid = self._verifier.is_valid(text, timestamp, signature)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            raise Refused(
                401,
                "signature does not match (forged, or a wrong SLACK_SIGNING_SECRET)",
                logging.WARNING,
            )
        check_shape(text, _content_type(headers))
        return text


def check_shape(text: str, content_type: str | None) -> dict[str, Any]:
    """The body as slack-bolt's ``parse_body`` will read it; :class:`Refused` 400 if it cannot.

    Mirrors bolt: JSON when the content type is exactly ``application/json`` or
    the body starts with ``{``; otherwise a form, whose ``payload`` field (when
    the body mentions one) must itself be JSON.
    """
    if not text:
        raise Refused(400, "signed but empty body", logging.WARNING)
    if content_type == "application/json" or text.startswith("{"):
        return _json_object(text, "body")
    try:
        fields = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise Refused(400, "signed body is neither JSON nor a form", logging.WARNING) from None
    form = dict(fields)
    if "payload" in text and "payload" in form:
        return _json_object(form["payload"], "form field payload")
    return form


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise Refused(400, f"signed {what} is not JSON", logging.WARNING) from None
    if not isinstance(parsed, dict):
        kind = type(parsed).__name__
        raise Refused(400, f"signed {what} is JSON but not an object ({kind})", logging.WARNING)
    return parsed


def _content_type(headers: CIMultiDictProxy[str]) -> str | None:
    """The content type as bolt reads it: up to the first ``;``, nothing stripped."""
    value = headers.get("Content-Type")
    return value.split(";")[0] if value else None


def _is_ssl_check(raw: bytes, headers: CIMultiDictProxy[str]) -> bool:
    """Exactly ``ssl_check=1`` (and an optional ``token``), nothing smuggled beside it."""
    if _content_type(headers) != "application/x-www-form-urlencoded" or len(raw) > 1024:
        return False
    try:
        fields = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    names = [name for name, _ in fields]
    return (
        len(names) == len(set(names))
        and set(names) <= _SSL_CHECK_FIELDS
        and dict(fields).get("ssl_check") == "1"
    )


def brief_error(error: BaseException) -> str:
    """One line about an exception: its type, message and innermost frame, no traceback."""
    message = " ".join(str(error).split())[:200]
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}: {message}{where}" if message else type(error).__name__ + where


def kind_of(body: object) -> str:
    """What a Slack payload says it is, for a log line (never raises, never long)."""
    if not isinstance(body, dict):
        return f"payload of type {type(body).__name__}"
    kind = body.get("type")
    event = body.get("event")
    if kind == "event_callback" and isinstance(event, dict) and isinstance(event.get("type"), str):
        kind = event["type"]
    if "command" in body and kind is None:
        kind = "command"
    return repr(kind)[:60] if kind is not None else "payload without a type"
