"""``/healthz`` and ``/metrics`` on ``METRICS_PORT`` as an orchestrator and Prometheus see
them: up in every mode, 503 while a platform connection that should be up is down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx

from dify_bridge.core import Adapter
from dify_bridge.demo.fake_dify import FakeDify
from dify_bridge.launch import platform_adapters
from dify_bridge.ops.http import OpsServer
from dify_bridge.ops.runtime import Runtime
from tests.fakes.discord import FakeDiscord
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.support import running_bridge


async def until(condition: Callable[[], object], what: str, within: float = 20.0) -> None:
    """Wait for ``condition`` (a reconnecting client takes its own time to notice)."""
    try:
        async with asyncio.timeout(within):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"still waiting for {what}") from None


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


@contextlib.asynccontextmanager
async def started(rt: Runtime) -> AsyncIterator[tuple[OpsServer, list[Adapter]]]:
    """The adapters ``dify-bridge run`` would start, the ops server first."""
    adapters = platform_adapters(rt)
    ops = adapters[0]
    assert isinstance(ops, OpsServer), "the ops server starts before the platforms"
    await ops.start()
    try:
        yield ops, adapters[1:]
    finally:
        await rt.bridge.shutdown(1.0)
        for adapter in reversed(adapters):
            await adapter.stop()


async def test_socket_mode_health_follows_the_websocket(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    slack = FakeSlack()
    await slack.start()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.api_url,
        "METRICS_PORT": "0",
        "HOST": "127.0.0.1",
    }
    try:
        async with (
            running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt,
            started(rt) as (
                ops,
                [bot],
            ),
        ):
            before = await get(ops.port, "/healthz")
            assert (before.status_code, before.text) == (503, "down: slack\n")
            await bot.start()
            assert (await get(ops.port, "/healthz")).text == "ok\n"
            metrics = await get(ops.port, "/metrics")
            assert metrics.status_code == 200
            assert "dify_bridge_active_streams" in metrics.text

            await slack.close()  # Slack is gone: the websocket closes and cannot come back
            await until(lambda: not bot.healthy, "the bot to notice")
            after = await get(ops.port, "/healthz")
            assert (after.status_code, after.text) == (503, "down: slack\n")
    finally:
        await slack.close()


async def test_http_mode_has_health_on_both_ports_and_metrics_on_one(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    slack = FakeSlack()
    await slack.start()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "METRICS_PORT": "0",
        "HOST": "127.0.0.1",
        "PORT": "0",
    }
    try:
        async with (
            running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt,
            started(rt) as (
                ops,
                [bot],
            ),
        ):
            await bot.start()
            events_port = bot.port  # type: ignore[attr-defined]
            assert (await get(events_port, "/healthz")).text == "ok\n"
            assert (await get(events_port, "/metrics")).status_code == 404, "not on a public port"
            assert (await get(ops.port, "/healthz")).text == "ok\n"
            assert (await get(ops.port, "/metrics")).status_code == 200
    finally:
        await slack.close()


async def test_discord_health_follows_the_gateway(fake_dify: FakeDify, tmp_path: Path) -> None:
    discord = FakeDiscord()
    await discord.start()
    env = discord.env() | {"METRICS_PORT": "0", "HOST": "127.0.0.1"}
    try:
        async with (
            running_bridge(fake_dify.url, tmp_path / "b.db", **env) as rt,
            started(rt) as (
                ops,
                [bot],
            ),
        ):
            await bot.start()
            assert bot.healthy
            assert (await get(ops.port, "/healthz")).text == "ok\n"

            await discord.close()  # the gateway is gone; discord.py keeps trying
            await until(lambda: not bot.healthy, "the bot to notice")
            after = await get(ops.port, "/healthz")
            assert (after.status_code, after.text) == (503, "down: discord\n")
    finally:
        await discord.close()


async def test_without_metrics_port_there_is_no_ops_server(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    discord = FakeDiscord()
    async with running_bridge(fake_dify.url, tmp_path / "b.db", **discord.env()) as rt:
        assert [a.name for a in platform_adapters(rt)] == ["discord"]


def healthcheck_command() -> list[str]:
    """The image's HEALTHCHECK, as docs/deploy/Dockerfile writes it (exec form)."""
    dockerfile = (Path(__file__).parents[1] / "docs" / "deploy" / "Dockerfile").read_text()
    instruction = dockerfile.split("\nHEALTHCHECK ", 1)[1].split("\nCMD ", 1)[0]
    command: list[str] = json.loads(instruction.split(" CMD ", 1)[1])
    return command


async def test_the_image_healthcheck_passes_only_while_healthy(
    fake_dify: FakeDify, tmp_path: Path
) -> None:
    class Down:
        name = "discord"
        healthy = False

    command = healthcheck_command()
    assert command[0] == "python"
    async with running_bridge(fake_dify.url, tmp_path / "b.db") as rt:
        for watched, expected in (((), 0), ((Down(),), 1)):
            ops = OpsServer(rt.bridge.metrics, "127.0.0.1", 0, watched=watched)  # type: ignore[arg-type]
            await ops.start()
            try:
                probe = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *command[1:],
                    env=os.environ | {"METRICS_PORT": str(ops.port)},
                    stderr=asyncio.subprocess.DEVNULL,
                )
                assert await probe.wait() == expected
            finally:
                await ops.stop()
