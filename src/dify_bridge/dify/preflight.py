"""What the bridge checks about each Dify app before it takes messages.

A completion or workflow app has no conversations, and an app whose input
form has required variables rejects every message without them: both are
reported at start (and by ``dify-bridge check``) in one line, not as a raw
400 on the first message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dify_bridge.dify.apps import PLACEHOLDERS, DifyApp
from dify_bridge.errors import AuthFailed, ConfigError, DifyError, InvalidRequest

log = logging.getLogger(__name__)

CHAT_MODES = frozenset({"chat", "advanced-chat", "agent-chat"})
MODE_NAMES = {
    "chat": "chatbot",
    "advanced-chat": "chatflow",
    "agent-chat": "agent",
    "completion": "text generator",
    "workflow": "workflow",
}


@dataclass(frozen=True)
class FormField:
    variable: str
    kind: str
    label: str = ""
    required: bool = False
    max_length: int | None = None
    options: tuple[str, ...] = ()

    def describe(self) -> str:
        need = "required" if self.required else "optional"
        extra = ""
        if self.options:
            extra = " one of " + ", ".join(repr(o) for o in self.options)
        elif self.max_length:
            extra = f" up to {self.max_length} characters"
        label = f" ({self.label})" if self.label and self.label != self.variable else ""
        return f"{self.variable}{label}: {self.kind}, {need}{extra}"


def parse_form(parameters: Mapping[str, Any]) -> list[FormField]:
    """The ``user_input_form`` of ``GET /parameters`` as typed fields."""
    fields: list[FormField] = []
    for entry in parameters.get("user_input_form") or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        ((kind, spec),) = entry.items()
        if not isinstance(spec, dict) or not isinstance(spec.get("variable"), str):
            continue
        max_length = spec.get("max_length")
        options = spec.get("options")
        fields.append(
            FormField(
                variable=spec["variable"],
                kind=kind,
                label=str(spec.get("label") or ""),
                required=bool(spec.get("required")),
                max_length=max_length if isinstance(max_length, int) and max_length > 0 else None,
                options=tuple(str(o) for o in options) if isinstance(options, list) else (),
            )
        )
    return fields


def input_problems(inputs: Mapping[str, Any], form: list[FormField]) -> list[str]:
    """Why ``inputs`` would be rejected by an app with this form (empty if fine)."""
    problems = []
    known = {f.variable: f for f in form}
    for name in inputs:
        if name not in known:
            expected = ", ".join(known) or "no inputs at all"
            problems.append(f"{name!r} is not an input of this app (it has: {expected})")
    for field in form:
        value = inputs.get(field.variable)
        if value is None or value == "":
            if field.required:
                problems.append(f"{field.variable!r} is required ({field.describe()})")
            continue
        templated = isinstance(value, str) and any("{" + p + "}" in value for p in PLACEHOLDERS)
        if field.options and not templated and str(value) not in field.options:
            choices = ", ".join(repr(o) for o in field.options)
            problems.append(f"{field.variable!r} is {value!r}, but the app accepts {choices}")
        if field.max_length and not templated and len(str(value)) > field.max_length:
            problems.append(
                f"{field.variable!r} is {len(str(value))} characters, the app allows "
                f"{field.max_length}"
            )
        if field.kind == "number" and not templated and not _is_number(value):
            problems.append(f"{field.variable!r} must be a number, got {value!r}")
    return problems


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class AppProfile:
    name: str
    mode: str
    form: list[FormField]
    parameters: dict[str, Any]


async def profile(app: DifyApp) -> AppProfile:
    info = await app.client.info()
    parameters = await app.client.parameters()
    return AppProfile(
        name=str(info.get("name") or "unnamed app"),
        mode=str(info.get("mode") or "chat"),
        form=parse_form(parameters),
        parameters=parameters,
    )


def problems_of(app: DifyApp, found: AppProfile) -> list[str]:
    if found.mode not in CHAT_MODES:
        kind = MODE_NAMES.get(found.mode, found.mode)
        return [
            f"app {found.name!r} is a {kind} app ({found.mode}), which has no conversations; "
            "use a chatbot, chatflow or agent app's key"
        ]
    return [f"inputs: {p}" for p in input_problems(app.inputs, found.form)]


async def preflight(apps: list[DifyApp], *, variable_of: Mapping[str, str]) -> None:
    """Stop the start (ConfigError) if an app cannot work; warn if Dify is unreachable."""
    for app in apps:
        variable = variable_of.get(app.name, "DIFY_API_KEY")
        try:
            found = await profile(app)
        except AuthFailed:
            raise ConfigError(variable, f"Dify rejected the key of app {app.name!r}") from None
        except InvalidRequest as exc:
            if exc.status != 404:
                raise ConfigError(variable, f"app {app.name!r}: {exc}") from None
            url_variable = "DIFY_API_URL" if variable == "DIFY_API_KEY" else variable
            raise ConfigError(
                url_variable,
                f"{app.client.api_url} has no Dify API (404); use the base shown on the app's "
                "API Access page, /v1 included",
            ) from None
        except DifyError as exc:
            log.warning("could not check app %r at start (%s); going on", app.name, exc)
            continue
        problems = problems_of(app, found)
        if problems:
            where = (
                variable
                if not problems[0].startswith("inputs")
                else ("DIFY_INPUTS" if variable == "DIFY_API_KEY" else variable)
            )
            raise ConfigError(where, f"app {app.name!r}: {problems[0]}")
        log.info("Dify app %r (%s) ready", found.name, found.mode)


__all__ = [
    "CHAT_MODES",
    "MODE_NAMES",
    "AppProfile",
    "FormField",
    "input_problems",
    "parse_form",
    "preflight",
    "problems_of",
    "profile",
]
