"""Logging set-up: plain or JSON lines, with every configured secret masked."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({})))


def json_time(created: float) -> str:
    """ISO 8601 in UTC to the millisecond, offset spelled out: ``2026-12-01T22:40:00.123+00:00``
    (log stores sort and merge lines from several replicas by it)."""
    return datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds")


class RedactingFormatter(logging.Formatter):
    """Formats a record, then replaces any secret value (tokens, keys) with ``***``."""

    def __init__(self, secrets: Iterable[str], *, as_json: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        self._as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        if self._as_json:
            entry: dict[str, object] = {
                "time": json_time(record.created),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
            extra = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
            extra.pop("message", None)
            entry.update(extra)
            if record.exc_info:
                entry["error"] = self.formatException(record.exc_info)
            text = json.dumps(entry, default=str, ensure_ascii=False)
        else:
            text = super().format(record)
        return self.redact(text)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def configure_logging(level: str, *, secrets: Iterable[str] = (), as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets, as_json=as_json))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet_noisy_loggers(level)


NOISY_LOGGERS = (
    "httpx",
    "httpcore",
    "aiohttp.access",
    "websockets",
    "discord.gateway",
    "aiosqlite",
)
"""Their request logs repeat what ours say, and may carry URLs with tokens; aiosqlite's
DEBUG lines carry every statement's parameters (a workspace's token among them)."""


def quiet_noisy_loggers(level: str) -> None:
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


__all__ = [
    "RedactingFormatter",
    "configure_logging",
    "json_time",
    "quiet_noisy_loggers",
]
