"""Typed access to raw environment variables; every failure names its variable."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from dify_bridge.config.secret import Secret
from dify_bridge.errors import ConfigError

__all__ = ["Reader"]


class Reader:
    """Typed access to raw variables; every failure names its variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str) -> str:
        return self._env.get(name, "").strip()

    def secret(self, name: str, *, required: bool = False, prefix: str = "") -> Secret:
        value = self.text(name)
        if required and not value:
            raise ConfigError(name, "is required")
        if value and any(ch.isspace() for ch in value):
            raise ConfigError(name, "contains whitespace; paste the token exactly")
        if value and prefix and not value.startswith(prefix):
            raise ConfigError(name, f"should start with {prefix!r}")
        return Secret(value)

    def url(self, name: str, default: str, *, schemes: tuple[str, ...]) -> str:
        value = self.text(name) or default
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not parsed.netloc:
            raise ConfigError(name, f"expected a {' or '.join(schemes)} URL, got {value!r}")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.text(name)
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(name, f"expected a number, got {value!r}") from None
        if number <= 0:
            raise ConfigError(name, "must be greater than 0")
        return number

    def count(self, name: str, default: int) -> int:
        value = self.text(name)
        if not value:
            return default
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(name, f"expected a whole number of at least 1, got {value!r}")
        return int(value)

    def port(self, name: str, default: int) -> int:
        value = self.text(name)
        if not value:
            return default
        if not value.isdigit() or not 0 <= int(value) <= 65535:
            raise ConfigError(name, f"expected a port number 0-65535, got {value!r}")
        return int(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name).lower()
        if not value:
            return default
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"expected true or false, got {value!r}")

    def id_set(self, name: str) -> frozenset[str]:
        return frozenset(part.strip() for part in self.text(name).split(",") if part.strip())

    def json_object(self, name: str) -> dict[str, Any]:
        value = self.text(name)
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                name, f"is not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(parsed, dict):
            raise ConfigError(name, 'must be a JSON object like {"department": "sales"}')
        return parsed
