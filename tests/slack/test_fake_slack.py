"""The fake Slack itself: auth, limits and faults behave like Slack's."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack


async def test_calls_need_the_bot_token(fake_slack: FakeSlack):
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await wrong.auth_test()
    app_level = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError, match="invalid_auth"):
        await app_level.apps_connections_open(app_token="xapp-wrong")
    assert [c.token for c in fake_slack.calls] == ["xoxb-wrong", "xapp-wrong"]


async def test_the_rolling_limit_counts_refused_calls(fake_slack: FakeSlack):
    client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    posted = await client.chat_postMessage(channel="C1", text="x")
    fake_slack.rate_limit("chat.update", calls=2, window=60)
    statuses = []
    for _ in range(4):
        try:
            await client.chat_update(channel="C1", ts=posted["ts"], text="y")
            statuses.append(200)
        except SlackApiError as exc:
            statuses.append(exc.response.status_code)
            assert exc.response.headers["Retry-After"] == "60"
    assert statuses == [200, 200, 429, 429]


async def test_injected_faults_run_out(fake_slack: FakeSlack):
    client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    fake_slack.fail_next("chat.postMessage", 2, status=503, error="service_unavailable")
    for _ in range(2):
        with pytest.raises(SlackApiError):
            await client.chat_postMessage(channel="C1", text="x")
    await client.chat_postMessage(channel="C1", text="finally")
    assert fake_slack.thread_texts("C1", None) == ["finally"]


async def test_updates_keep_what_a_user_sees(fake_slack: FakeSlack):
    client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    root = fake_slack.add_message("C1", "question")
    first = await client.chat_postMessage(channel="C1", thread_ts=root.ts, text="a")
    await client.chat_postMessage(channel="C1", thread_ts=root.ts, text="b")
    await client.chat_update(channel="C1", ts=first["ts"], text="a, edited")
    with pytest.raises(SlackApiError, match="msg_too_long"):
        await client.chat_update(channel="C1", ts=first["ts"], text="z" * 4001)
    with pytest.raises(SlackApiError, match="cant_update_message"):
        await client.chat_update(channel="C1", ts=root.ts, text="not mine")
    assert fake_slack.thread_texts("C1", root.ts) == ["a, edited", "b"]
