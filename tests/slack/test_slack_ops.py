"""Operations in HTTP mode: /healthz beside /slack/events (/metrics is on METRICS_PORT
only), Slack's 429s counted."""

from __future__ import annotations

import aiohttp

from tests.slack.conftest import SlackBot


async def get(port: int, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def sample(page: str, name: str) -> float:
    """The value of one sample line (``name`` includes its labels) of a metrics page."""
    for line in page.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} is not on the metrics page:\n{page}")


def metrics_page(slack_bot: SlackBot) -> str:
    """The page METRICS_PORT serves (tests/test_ops_endpoints.py serves it over HTTP)."""
    return slack_bot.runtime.bridge.metrics.render().decode()


async def test_metrics_count_answers_and_are_not_on_the_public_events_port(slack_bot: SlackBot):
    await slack_bot.ask("C1", "hello")

    status, _, _ = await get(slack_bot.adapter.port, "/metrics")

    assert status == 404
    page = metrics_page(slack_bot)
    assert sample(page, 'dify_bridge_turns_total{outcome="answered",platform="slack"}') == 1


async def test_slack_429s_are_counted_as_rate_limited(slack_bot: SlackBot):
    slack = slack_bot.slack
    slack.fail_next("chat.startStream", 2, retry_after=0)

    await slack_bot.ask("C1", "hello")

    refused = [c for c in slack.calls_to("chat.startStream") if c.status == 429]
    assert len(refused) == 2, "the fake should have refused the first two posts"
    page = metrics_page(slack_bot)
    assert sample(page, 'dify_bridge_rate_limited_total{service="slack"}') == 2


async def test_health_answers_beside_the_events(slack_bot: SlackBot):
    status, _, body = await get(slack_bot.adapter.port, "/healthz")
    assert status == 200 and body.strip() == "ok"
