"""The composition root: which platform adapters a deployment runs, and the console.

The only module that names the adapters. Each platform is imported when its
credentials are set and not before: slack-bolt and discord.py are large, and
a deployment runs one of them, both, or (the offline demo) neither.
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from dify_bridge.core import Adapter
from dify_bridge.ops.http import OpsServer
from dify_bridge.ops.runtime import Runtime, serve

__all__ = ["platform_adapters", "run_console"]


def platform_adapters(runtime: Runtime) -> list[Adapter]:
    """One adapter per platform whose credentials are set (plus the ops server)."""
    adapters: list[Adapter] = []
    settings = runtime.settings
    if settings.slack is not None:
        from dify_bridge.adapters.slack.app import SlackAdapter

        adapters.append(SlackAdapter(settings.slack, runtime.bridge))
    if settings.discord is not None:
        from dify_bridge.adapters.discord.adapter import DiscordAdapter

        adapters.append(DiscordAdapter(settings.discord, runtime.bridge))
    if settings.metrics_port is not None:
        # first, so /metrics is up and /healthz says 503 while the platforms connect
        ops = OpsServer(
            runtime.bridge.metrics, settings.host, settings.metrics_port, watched=adapters
        )
        adapters.insert(0, ops)
    return adapters


async def run_console(
    runtime: Runtime, *, banner: str = "", source: TextIO | None = None, out: TextIO | None = None
) -> None:
    """The terminal as the platform, until end of input, /quit or a signal."""
    from dify_bridge.adapters.console import ConsoleAdapter

    done = asyncio.Event()
    console = ConsoleAdapter(
        runtime.bridge, source=source, out=out, banner=banner, on_exit=done.set
    )
    await serve(runtime, [console], until=done)
