"""``DIFY_ROUTES_FILE``: which channels, workspaces and guilds talk to which Dify app.

::

    [[routes]]
    name = "sales"
    slack_channels = ["C0123ABC"]      # channel ids
    slack_teams = ["T0123ABC"]         # whole workspaces
    discord_guilds = ["1234567890"]    # whole guilds
    discord_channels = ["2345678901"]  # channels (their threads follow)
    api_url = "https://api.dify.ai/v1"
    api_key = "app-..."
    inputs = { department = "sales" }

A problem stops the start with one line naming the file and the route.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dify_bridge.config.secret import Secret
from dify_bridge.dify.apps import DEFAULT_APP
from dify_bridge.errors import ConfigError

VARIABLE = "DIFY_ROUTES_FILE"

_SCOPE_KEYS = {
    "slack_channels": "slack:{}",
    "slack_teams": "slack:{}",
    "discord_channels": "discord:{}",
    "discord_guilds": "discord:guild:{}",
}
_KEYS = frozenset({"name", "api_url", "api_key", "inputs", *_SCOPE_KEYS})


@dataclass(frozen=True)
class Route:
    name: str
    api_url: str
    api_key: Secret
    inputs: dict[str, Any] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()


def load_routes(path: str, *, default_api_url: str) -> list[Route]:
    """Parse and validate the routes file."""
    file = Path(path)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(VARIABLE, f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError(VARIABLE, f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(VARIABLE, f"{path}: {exc}") from None
    return parse_routes(document, source=path, default_api_url=default_api_url)


def parse_routes(document: dict[str, Any], *, source: str, default_api_url: str) -> list[Route]:
    unknown_top = set(document) - {"routes"}
    if unknown_top:
        raise ConfigError(VARIABLE, f"{source}: unknown top-level key {sorted(unknown_top)[0]!r}")
    raw_routes = document.get("routes", [])
    if not isinstance(raw_routes, list):
        raise ConfigError(VARIABLE, f"{source}: 'routes' must be an array of tables ([[routes]])")
    routes: list[Route] = []
    owner: dict[str, str] = {}
    for number, raw in enumerate(raw_routes, start=1):
        where = f"{source}: route {number}"
        if not isinstance(raw, dict):
            raise ConfigError(VARIABLE, f"{where}: must be a table")
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            expected = ", ".join(sorted(_KEYS))
            raise ConfigError(
                VARIABLE, f"{where}: unknown key {unknown[0]!r} (expected {expected})"
            )
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(VARIABLE, f"{where}: 'name' is required")
        where = f"{source}: route {number} ({name!r})"
        if name == DEFAULT_APP or any(r.name == name for r in routes):
            raise ConfigError(VARIABLE, f"{where}: the name is already taken")
        api_key = raw.get("api_key")
        if not isinstance(api_key, str) or not api_key.strip():
            raise ConfigError(VARIABLE, f"{where}: 'api_key' is required")
        api_url = raw.get("api_url", default_api_url)
        parsed = urlparse(api_url) if isinstance(api_url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(VARIABLE, f"{where}: 'api_url' must be an http(s) URL")
        inputs = raw.get("inputs", {})
        if not isinstance(inputs, dict):
            raise ConfigError(VARIABLE, f"{where}: 'inputs' must be a table")
        scopes: list[str] = []
        for key, template in _SCOPE_KEYS.items():
            ids = raw.get(key, [])
            if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
                raise ConfigError(VARIABLE, f"{where}: {key!r} must be a list of ids")
            for item in ids:
                scope = template.format(item)
                if scope in owner:
                    raise ConfigError(
                        VARIABLE, f"{where}: {item} is already routed to {owner[scope]!r}"
                    )
                owner[scope] = name
                scopes.append(scope)
        if not scopes:
            raise ConfigError(VARIABLE, f"{where}: routes nothing (no channels, teams or guilds)")
        routes.append(Route(name, api_url, Secret(api_key.strip()), dict(inputs), tuple(scopes)))
    return routes


__all__ = [
    "VARIABLE",
    "Route",
    "load_routes",
    "parse_routes",
]
