from __future__ import annotations

from pathlib import Path

import pytest

from dify_bridge.config import Secret, load_environment, parse_settings
from dify_bridge.errors import ConfigError

BASE = {"DIFY_API_KEY": "app-secret-key-123"}


def test_defaults_follow_the_contract() -> None:
    settings = parse_settings(BASE)
    assert settings.dify.api_url == "https://api.dify.ai/v1"
    assert settings.database_url == "sqlite:///dify-bridge.db"
    assert settings.slack is None and settings.discord is None
    assert settings.voice_replies == "off"
    assert settings.max_download_bytes == 100 * 1024 * 1024
    assert settings.max_recording_bytes == 15 * 1024 * 1024
    assert settings.metrics_port is None, "no ops server unless METRICS_PORT is set"
    assert settings.questions_per_user_per_minute == 0, "no question limits by default"
    assert settings.questions_per_channel_per_minute == 0


def test_slack_http_mode_and_socket_mode() -> None:
    http = parse_settings(BASE | {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s3cret"})
    assert http.slack is not None and not http.slack.socket_mode
    assert (http.slack.host, http.slack.port) == ("0.0.0.0", 3000)
    socket = parse_settings(BASE | {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert socket.slack is not None and socket.slack.socket_mode


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-1", "SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
        ({"DIFY_API_URL": "api.dify.ai/v1"}, "DIFY_API_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"PORT": "http"}, "PORT"),
        ({"DIFY_INPUTS": "{not json"}, "DIFY_INPUTS"),
        ({"DIFY_INPUTS": "[1, 2]"}, "DIFY_INPUTS"),
        ({"VOICE_REPLIES": "loud"}, "VOICE_REPLIES"),
        ({"MAX_DOWNLOAD_MB": "0"}, "MAX_DOWNLOAD_MB"),
        ({"MAX_RECORDING_MB": "16"}, "MAX_RECORDING_MB"),
        ({"QUESTIONS_PER_USER_PER_MINUTE": "0"}, "QUESTIONS_PER_USER_PER_MINUTE"),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "METRICS_PORT": "3000"},
            "METRICS_PORT",
        ),
        ({"DISCORD_BOT_TOKEN": "abc", "DISCORD_GATEWAY_URL": "http://x"}, "DISCORD_GATEWAY_URL"),
        (
            {
                "SLACK_SPEAKER_NAMES": "maybe",
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_APP_TOKEN": "xapp-1",
            },
            "SLACK_SPEAKER_NAMES",
        ),
    ],
)
def test_a_bad_setting_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(BASE | env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_secrets_never_show_in_reprs() -> None:
    settings = parse_settings(
        BASE | {"SLACK_BOT_TOKEN": "xoxb-very-secret", "SLACK_APP_TOKEN": "xapp-also-secret"}
    )
    text = repr(settings) + str(settings)
    assert "very-secret" not in text and "also-secret" not in text and "secret-key" not in text
    assert Secret("abc").value == "abc"


def test_environment_wins_over_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DIFY_API_KEY=app-from-file\nDATABASE_URL=sqlite:///file.db\n")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///env.db")
    merged = load_environment(env_file)
    assert merged["DIFY_API_KEY"] == "app-from-file"
    assert merged["DATABASE_URL"] == "sqlite:///env.db"
