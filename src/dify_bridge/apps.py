"""The Dify apps the bridge talks to, and which one a new thread uses."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dify_bridge.dify import DifyClient
from dify_bridge.models import Incoming

log = logging.getLogger(__name__)

DEFAULT_APP = "default"

PLACEHOLDERS = ("user_name", "user_id", "channel_name", "thread_url", "platform")


@dataclass(frozen=True)
class DifyApp:
    name: str
    client: DifyClient
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def inputs_for(self, incoming: Incoming) -> dict[str, Any]:
        """The app's inputs with ``{user_name}``-style placeholders filled for this turn."""
        values = {
            "user_name": incoming.user_name,
            "user_id": incoming.user_id,
            "channel_name": incoming.channel_name,
            "thread_url": incoming.thread_url,
            "platform": incoming.platform,
        }
        filled: dict[str, Any] = {}
        for key, value in self.inputs.items():
            if isinstance(value, str):
                for name, replacement in values.items():
                    value = value.replace("{" + name + "}", replacement)
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
