"""Reading Slack payload fields: text, objects, and the one error for impossible types.

A field of a type Slack never sends (an object where a string belongs, a
file size that is not a number) raises :class:`MalformedPayload`; the
listeners log it in one line (:func:`ignored`) and drop the payload.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .http import kind_of

__all__ = ["MalformedPayload", "ignored", "obj", "text_field"]

log = logging.getLogger(__name__)


class MalformedPayload(ValueError):
    """A Slack payload with a field of a type or value Slack never sends."""


def obj(value: object, what: str) -> Mapping[str, Any]:
    """``value`` as an object; ``{}`` when absent; :class:`MalformedPayload` otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"{what} is a {type(value).__name__}, not an object")
    return value


def text_field(value: object, what: str) -> str:
    """A string (or number) field as text; ``""`` when absent; else :class:`MalformedPayload`."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise MalformedPayload(f"{what} is a {type(value).__name__}, not text")


def ignored(body: object, problem: MalformedPayload) -> None:
    """The one log line for a payload dropped as malformed."""
    log.info("ignoring a Slack %s: %s", kind_of(body), problem)
