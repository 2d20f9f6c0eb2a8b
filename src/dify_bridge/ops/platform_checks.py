"""``dify-bridge check`` for Slack and Discord: tokens, scopes, intents, the invite.

Over plain HTTP (httpx): the checks need neither slack-sdk nor discord.py,
and they only read; nothing is posted, connected or registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from dify_bridge.config import Settings
from dify_bridge.ops.result import CheckResult
from dify_bridge.ops.slack_scopes import SLACK_SCOPES, missing_scopes

__all__ = [
    "DISCORD_PERMISSIONS",
    "MESSAGE_CONTENT_FLAGS",
    "DiscordPermission",
    "check_discord",
    "check_slack",
    "invite_url",
]

MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)
"""``GATEWAY_MESSAGE_CONTENT`` (verified apps) or ``_LIMITED`` (the switch on the Bot page)."""


@dataclass(frozen=True)
class DiscordPermission:
    bit: int
    name: str
    """As the Developer Portal spells it."""
    why: str


DISCORD_PERMISSIONS: tuple[DiscordPermission, ...] = (
    DiscordPermission(10, "View Channels", "see the channels it is mentioned in"),
    DiscordPermission(11, "Send Messages", "answer in channels and DMs"),
    DiscordPermission(14, "Embed Links", "show link previews in answers"),
    DiscordPermission(15, "Attach Files", "spoken answers (VOICE_REPLIES)"),
    DiscordPermission(
        16, "Read Message History", "react to and open threads from people's messages"
    ),
    DiscordPermission(6, "Add Reactions", "the 👍/👎 hints under answers"),
    DiscordPermission(35, "Create Public Threads", "open a thread for each mention"),
    DiscordPermission(38, "Send Messages in Threads", "answer inside threads"),
)
"""What the adapter does in a guild, and the permission each call needs."""


def invite_url(application_id: str) -> str:
    permissions = sum(1 << p.bit for p in DISCORD_PERMISSIONS)
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope=bot+applications.commands&permissions={permissions}"
    )


async def check_slack(settings: Settings, http: httpx.AsyncClient) -> list[CheckResult]:
    """``auth.test`` (and the granted scopes), plus ``apps.connections.open`` in Socket Mode."""
    slack = settings.slack
    if slack is None:
        return []
    if slack.oauth:
        return await _check_slack_oauth(settings, http)
    mode = "Socket Mode" if slack.socket_mode else f"HTTP mode on {slack.host}:{slack.port}"
    reply = await _slack_call(http, f"{slack.api_url}auth.test", slack.bot_token.value)
    if isinstance(reply, str):
        return [CheckResult("slack", False, f"auth.test with SLACK_BOT_TOKEN failed: {reply}")]
    auth, response = reply
    results = [
        CheckResult(
            "slack", True, f"bot {auth.get('user')!r} in workspace {auth.get('team')!r} ({mode})"
        )
    ]
    if slack.socket_mode:
        opened = await _slack_call(
            http, f"{slack.api_url}apps.connections.open", slack.app_token.value
        )
        if isinstance(opened, str):
            detail = f"apps.connections.open with SLACK_APP_TOKEN failed: {opened}"
            results.append(CheckResult("slack app token", False, detail))
        else:
            results.append(CheckResult("slack app token", True, "Socket Mode can connect"))
    results += _scope_results(response.headers.get("x-oauth-scopes"), settings)
    return results


async def _check_slack_oauth(settings: Settings, http: httpx.AsyncClient) -> list[CheckResult]:
    """No bot token to try: the client id and secret, by a code Slack cannot know."""
    slack = settings.slack
    assert slack is not None
    try:
        response = await http.post(
            f"{slack.api_url}oauth.v2.access",
            auth=(slack.client_id, slack.client_secret.value),
            data={"code": "dify-bridge-check"},
        )
        error = str(response.json().get("error") or "")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        detail = f"cannot ask Slack about SLACK_CLIENT_ID ({type(exc).__name__})"
        return [CheckResult("slack", False, detail)]
    if error in ("invalid_client_id", "bad_client_secret"):
        name = "SLACK_CLIENT_ID" if error == "invalid_client_id" else "SLACK_CLIENT_SECRET"
        return [CheckResult("slack", False, f"oauth.v2.access refused {name}: {error}")]
    where = slack.redirect_uri or f"https://<your host>{':' + str(slack.port)}/slack/oauth_redirect"
    results = [
        CheckResult(
            "slack",
            True,
            f"OAuth for many workspaces (HTTP mode on {slack.host}:{slack.port}): installs at "
            f"/slack/install; register {where} as a Redirect URL",
        )
    ]
    if slack.scopes:  # SLACK_SCOPES asks for less than the features use
        results += _scope_results(",".join(slack.scopes), settings)
    return results


def _scope_results(header: str | None, settings: Settings) -> list[CheckResult]:
    if header is None:
        detail = "Slack did not list the token's scopes (no x-oauth-scopes header)"
        return [CheckResult("slack scopes", True, detail, warning=True)]
    missing = missing_scopes(header.split(","), settings)
    if not missing:
        used = sum(1 for scope in SLACK_SCOPES if scope.used(settings))
        detail = f"the {used} scopes the settings use are granted"
        return [CheckResult("slack scopes", True, detail)]
    hint = "add it in OAuth & Permissions (or the manifest), then reinstall the app"
    return [
        CheckResult(
            f"slack scope {m.scope.name}",
            not m.required,
            f"missing: {m.scope.feature} {'needs' if m.required else 'will not work without'} "
            f"it; {hint}",
            warning=not m.required,
        )
        for m in missing
    ]


async def _slack_call(
    http: httpx.AsyncClient, url: str, token: str
) -> tuple[dict[str, Any], httpx.Response] | str:
    """Slack's answer and the response, or why there is none (one phrase)."""
    try:
        response = await http.post(url, headers={"Authorization": f"Bearer {token}"})
        data = response.json()
    except httpx.HTTPError as exc:
        return f"cannot reach {url.rsplit('/', 1)[0]}/ ({type(exc).__name__})"
    except ValueError:
        return f"HTTP {response.status_code}, not Slack's JSON"
    if not isinstance(data, dict):
        return f"HTTP {response.status_code}, not Slack's JSON"
    if not data.get("ok"):
        return str(data.get("error") or f"HTTP {response.status_code}")
    return data, response


async def check_discord(settings: Settings, http: httpx.AsyncClient) -> list[CheckResult]:
    """The bot token, the Message Content intent, and the invite URL."""
    discord = settings.discord
    if discord is None:
        return []
    me = await _discord_get(http, f"{discord.api_url}/users/@me", discord.bot_token.value)
    if isinstance(me, str):
        return [CheckResult("discord", False, me)]
    results = [CheckResult("discord", True, f"bot {me.get('username')!r} (id {me.get('id')})")]
    app = await _discord_get(http, f"{discord.api_url}/applications/@me", discord.bot_token.value)
    if isinstance(app, str):
        results.append(CheckResult("discord intent", False, app))
        return results
    flags = app.get("flags")
    if isinstance(flags, int) and flags & MESSAGE_CONTENT_FLAGS:
        results.append(CheckResult("discord intent", True, "Message Content is on"))
    else:
        detail = (
            "Message Content is off: the bot would see no question. Developer Portal -> "
            "your application -> Bot -> Privileged Gateway Intents -> MESSAGE CONTENT INTENT"
        )
        results.append(CheckResult("discord intent", False, detail))
    granted = tuple(f"{p.name}: {p.why}" for p in DISCORD_PERMISSIONS)
    results.append(CheckResult("discord invite", True, invite_url(str(app.get("id"))), granted))
    return results


async def _discord_get(http: httpx.AsyncClient, url: str, token: str) -> dict[str, Any] | str:
    path = url.rsplit("/", 2)[-2:]
    try:
        response = await http.get(url, headers={"Authorization": f"Bot {token}"})
    except httpx.HTTPError as exc:
        return f"cannot reach {url.rsplit('/', 2)[0]} ({type(exc).__name__})"
    if response.status_code == 401:
        return "DISCORD_BOT_TOKEN was rejected (401); copy it again from the Bot page"
    if response.status_code != 200:
        return f"GET /{'/'.join(path)} answered {response.status_code}"
    try:
        data = response.json()
    except ValueError:
        return f"GET /{'/'.join(path)} answered something other than JSON"
    return data if isinstance(data, dict) else f"GET /{'/'.join(path)} answered no object"
