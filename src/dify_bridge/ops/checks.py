"""``dify-bridge check``: reach every configured service, one line each."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from dify_bridge.config import Settings
from dify_bridge.dify.apps import AppDirectory
from dify_bridge.dify.preflight import problems_of, profile
from dify_bridge.errors import BridgeError, DifyError
from dify_bridge.store import open_store, redact_url


@dataclass(frozen=True)
class CheckResult:
    service: str
    ok: bool
    detail: str
    notes: tuple[str, ...] = ()

    def line(self) -> str:
        head = f"{'ok  ' if self.ok else 'FAIL'}  {self.service}: {self.detail}"
        return "\n".join([head, *(f"      {note}" for note in self.notes)])


async def check_dify(apps: AppDirectory) -> list[CheckResult]:
    results = []
    for app in apps:
        service = f"dify ({app.name})"
        try:
            found = await profile(app)
        except DifyError as exc:
            results.append(CheckResult(service, False, f"{app.client.api_url}: {exc}"))
            continue
        form = tuple(f"input {field.describe()}" for field in found.form)
        problems = problems_of(app, found)
        if problems:
            results.append(CheckResult(service, False, "; ".join(problems), form))
            continue
        detail = f"app {found.name!r} ({found.mode}) at {app.client.api_url}"
        results.append(CheckResult(service, True, detail, form))
    return results


async def check_slack(settings: Settings, http: httpx.AsyncClient) -> CheckResult | None:
    """``auth.test`` with the bot token, over plain HTTP: the check needs no Slack SDK."""
    if settings.slack is None:
        return None
    slack = settings.slack
    mode = "Socket Mode" if slack.socket_mode else f"HTTP mode on {slack.host}:{slack.port}"
    try:
        response = await http.post(
            f"{slack.api_url}auth.test",
            headers={"Authorization": f"Bearer {slack.bot_token.value}"},
        )
        auth = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return CheckResult("slack", False, f"cannot reach {slack.api_url}: {type(exc).__name__}")
    if not isinstance(auth, dict) or not auth.get("ok"):
        error = auth.get("error") if isinstance(auth, dict) else f"HTTP {response.status_code}"
        return CheckResult("slack", False, f"auth.test failed: {error}")
    return CheckResult(
        "slack", True, f"bot {auth.get('user')!r} in workspace {auth.get('team')!r} ({mode})"
    )


async def check_discord(settings: Settings, http: httpx.AsyncClient) -> CheckResult | None:
    if settings.discord is None:
        return None
    discord = settings.discord
    try:
        response = await http.get(
            f"{discord.api_url}/users/@me",
            headers={"Authorization": f"Bot {discord.bot_token.value}"},
        )
    except httpx.HTTPError as exc:
        return CheckResult(
            "discord", False, f"cannot reach {discord.api_url}: {type(exc).__name__}"
        )
    if response.status_code == 401:
        return CheckResult("discord", False, "the bot token was rejected (401)")
    if response.status_code != 200:
        return CheckResult("discord", False, f"GET /users/@me answered {response.status_code}")
    me = response.json()
    return CheckResult("discord", True, f"bot {me.get('username')!r} (id {me.get('id')})")


async def check_store(settings: Settings) -> CheckResult:
    """Open (creating or upgrading) and close the store ``DATABASE_URL`` names."""
    try:
        store = await open_store(settings.database_url)
    except BridgeError as exc:
        return CheckResult("store", False, str(exc))
    await store.close()
    return CheckResult("store", True, redact_url(settings.database_url))


async def run_checks(
    settings: Settings, apps: AppDirectory, http: httpx.AsyncClient
) -> list[CheckResult]:
    results = await check_dify(apps)
    results.append(await check_store(settings))
    for extra in (await check_slack(settings, http), await check_discord(settings, http)):
        if extra is not None:
            results.append(extra)
    return results


__all__ = [
    "CheckResult",
    "check_dify",
    "check_discord",
    "check_slack",
    "check_store",
    "run_checks",
]
