"""Settings and ``dify-bridge check`` of the OAuth mode (many workspaces)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from dify_bridge.config import parse_settings
from dify_bridge.errors import ConfigError
from dify_bridge.ops.platform_checks import check_slack
from tests.fakes.dify import FakeDify
from tests.fakes.slack import CLIENT_ID, CLIENT_SECRET, SIGNING_SECRET, FakeSlack
from tests.test_cli import run_cli

OAUTH = {
    "DIFY_API_KEY": "app-x",
    "SLACK_CLIENT_ID": CLIENT_ID,
    "SLACK_CLIENT_SECRET": CLIENT_SECRET,
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
}


def test_a_client_id_and_secret_without_a_bot_token_is_oauth() -> None:
    key = Fernet.generate_key().decode()
    settings = parse_settings(
        OAUTH
        | {
            "SLACK_SCOPES": "chat:write, app_mentions:read",
            "SLACK_REDIRECT_URI": "https://bridge.example/slack/oauth_redirect",
            "SLACK_ALLOWED_TEAMS": "T1, T2",
            "TOKEN_ENCRYPTION_KEY": key,
        }
    )
    slack = settings.slack
    assert slack is not None and slack.oauth and not slack.socket_mode
    assert slack.scopes == ("app_mentions:read", "chat:write")
    assert slack.redirect_uri == "https://bridge.example/slack/oauth_redirect"
    assert slack.allowed_teams == {"T1", "T2"}
    assert {CLIENT_SECRET, key} <= set(settings.secrets), "both are masked in logs"
    assert CLIENT_SECRET not in repr(slack) and key not in repr(slack)

    with_token = parse_settings(OAUTH | {"SLACK_BOT_TOKEN": "xoxb-1"})
    assert with_token.slack is not None and not with_token.slack.oauth, "a bot token wins"


@pytest.mark.parametrize(
    ("env", "variable", "says"),
    [
        ({"SLACK_CLIENT_SECRET": ""}, "SLACK_CLIENT_SECRET", "is required"),
        ({"SLACK_CLIENT_ID": ""}, "SLACK_CLIENT_ID", "is required"),
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET", "HTTP mode"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_APP_TOKEN", "HTTP mode only"),
        ({"TOKEN_ENCRYPTION_KEY": "not-a-key"}, "TOKEN_ENCRYPTION_KEY", "Fernet key"),
        ({"SLACK_REDIRECT_URI": "bridge/redirect"}, "SLACK_REDIRECT_URI", "URL"),
    ],
)
def test_half_an_oauth_set_up_names_the_variable(
    env: dict[str, str], variable: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings(OAUTH | env)
    assert raised.value.variable == variable
    assert says in str(raised.value)


async def test_a_bad_encryption_key_stops_the_start_with_one_line(tmp_path: Path) -> None:
    env = OAUTH | {"TOKEN_ENCRYPTION_KEY": "too-short-to-be-a-key"}
    code, _out, err = await run_cli("run", cwd=tmp_path, env=env)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("dify-bridge: configuration error: TOKEN_ENCRYPTION_KEY: is not a")
    assert "too-short-to-be-a-key" not in err


async def test_check_asks_for_no_bot_token_and_tries_the_client_credentials(
    fake_dify: FakeDify, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = OAUTH | {"SLACK_API_URL": fake_slack.api_url}
    async with httpx.AsyncClient() as http:
        (result,) = await check_slack(parse_settings(env), http)
        assert result.ok and "OAuth for many workspaces" in result.detail
        assert "/slack/oauth_redirect" in result.detail

        wrong = parse_settings(env | {"SLACK_CLIENT_SECRET": "wrong-secret"})
        (refused,) = await check_slack(wrong, http)
        assert not refused.ok and "SLACK_CLIENT_SECRET: bad_client_secret" in refused.detail

        few = parse_settings(env | {"SLACK_SCOPES": "chat:write"})
        failed = [r for r in await check_slack(few, http) if not r.ok]
        assert "slack scope app_mentions:read" in [r.service for r in failed]
    assert fake_slack.calls_to("auth.test") == [], "no bot token to test"
    assert fake_slack.granted_codes == 0

    code, out, err = await run_cli(
        "check", cwd=tmp_path, env=env | {"DIFY_API_URL": fake_dify.url, "DIFY_API_KEY": "app-test"}
    )
    assert code == 0, out + err
    assert "ok    slack: OAuth for many workspaces" in out
