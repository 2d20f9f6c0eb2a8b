"""``dify-bridge check``: reach every configured service, one line per check.

It changes nothing: the store is looked at read-only (:mod:`dify_bridge.store.probe`),
Dify, Slack and Discord are only asked questions. A ``FAIL`` line means ``run``
would fail or miss something it needs (exit 1); ``warn`` lines name optional
features that will not work.
"""

from __future__ import annotations

import httpx

from dify_bridge.config import Settings
from dify_bridge.dify.apps import AppDirectory
from dify_bridge.dify.preflight import problems_of, profile
from dify_bridge.errors import BridgeError, DifyError
from dify_bridge.ops.platform_checks import check_discord, check_slack
from dify_bridge.ops.result import CheckResult
from dify_bridge.store.probe import probe_store


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


async def check_store(settings: Settings) -> CheckResult:
    """What ``run`` would find at ``DATABASE_URL``, looked at without creating or upgrading it."""
    try:
        found = await probe_store(settings.database_url)
    except BridgeError as exc:
        return CheckResult("store", False, str(exc))
    return CheckResult("store", True, found.describe())


async def run_checks(
    settings: Settings, apps: AppDirectory, http: httpx.AsyncClient
) -> list[CheckResult]:
    """Every check, in the order they print; nothing is changed anywhere."""
    results = await check_dify(apps)
    results.append(await check_store(settings))
    results += await check_slack(settings, http)
    results += await check_discord(settings, http)
    return results


__all__ = [
    "CheckResult",
    "check_dify",
    "check_discord",
    "check_slack",
    "check_store",
    "run_checks",
]
