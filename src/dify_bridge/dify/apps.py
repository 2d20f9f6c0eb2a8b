"""The Dify apps the bridge talks to, and which one a new thread uses."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dify_bridge.dify.client import DifyClient
from dify_bridge.errors import DifyError

log = logging.getLogger(__name__)

DEFAULT_APP = "default"

PLACEHOLDERS = ("user_name", "user_id", "channel_name", "thread_url", "platform")
_PLACEHOLDER = re.compile("{(" + "|".join(PLACEHOLDERS) + ")}")


PARAMETERS_MAX_AGE = 300.0
"""Seconds the app's settings (``GET /parameters``) are reused before asking again."""


RETRY_AFTER_FAILURE = 10.0


@dataclass
class _Remembered:
    parameters: dict[str, Any] = field(default_factory=dict)
    fetched_at: float | None = None
    max_age: float = PARAMETERS_MAX_AGE
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class DifyApp:
    name: str
    client: DifyClient
    inputs: Mapping[str, Any] = field(default_factory=dict)
    _remembered: _Remembered = field(default_factory=_Remembered, compare=False, repr=False)

    async def parameters(self) -> dict[str, Any]:
        """The app's settings, fetched at most every few minutes; empty if unreachable."""
        memo = self._remembered
        async with memo.lock:  # answers ending together ask Dify once, not once each
            now = time.monotonic()
            if memo.fetched_at is None or now - memo.fetched_at > memo.max_age:
                try:
                    memo.parameters = await self.client.parameters()
                    memo.max_age = PARAMETERS_MAX_AGE
                except DifyError as exc:
                    log.warning("could not read the settings of app %r: %s", self.name, exc)
                    memo.max_age = RETRY_AFTER_FAILURE  # a passing outage: ask again soon
                memo.fetched_at = time.monotonic()
        return memo.parameters

    def inputs_for(self, values: Mapping[str, str]) -> dict[str, Any]:
        """The app's inputs with ``{user_name}``-style placeholders filled from ``values``
        (one per name in :data:`PLACEHOLDERS`; a missing one becomes empty)."""
        filled: dict[str, Any] = {}
        for key, value in self.inputs.items():
            if isinstance(value, str):
                # one pass, so a user name that looks like a placeholder stays as it is
                value = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), value)
            filled[key] = value
        return filled


class AppDirectory:
    """The default app plus routed ones, looked up by the scopes of a message."""

    def __init__(
        self,
        default: DifyApp,
        routed: Iterable[DifyApp] = (),
        scopes: Mapping[str, str] | None = None,
    ) -> None:
        self.default = default
        self._apps = {app.name: app for app in routed}
        self._apps.setdefault(default.name, default)
        self._scopes = dict(scopes or {})

    def __iter__(self) -> Any:
        return iter(self._apps.values())

    def for_scopes(self, scopes: Iterable[str]) -> DifyApp:
        """The app of the most specific scope that has a route, else the default."""
        for scope in scopes:
            name = self._scopes.get(scope)
            if name is not None:
                return self._apps[name]
        return self.default

    def get(self, name: str) -> DifyApp:
        """The app a thread started with; the default if it is no longer configured."""
        app = self._apps.get(name)
        if app is None:
            log.warning("app %r is no longer configured; using the default app", name)
            return self.default
        return app


__all__ = [
    "DEFAULT_APP",
    "PARAMETERS_MAX_AGE",
    "PLACEHOLDERS",
    "RETRY_AFTER_FAILURE",
    "AppDirectory",
    "DifyApp",
]
