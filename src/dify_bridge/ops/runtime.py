"""Assembles the engine from settings and runs adapters until told to stop.

Which adapters run is the launcher's choice (:mod:`dify_bridge.launch`); the
engine never imports a platform."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from dify_bridge.config import Settings
from dify_bridge.core import Adapter, Bridge, BridgeOptions
from dify_bridge.dify.apps import DEFAULT_APP, AppDirectory, DifyApp
from dify_bridge.dify.client import DifyClient, make_http_client
from dify_bridge.errors import ConfigError
from dify_bridge.store import Store, open_store

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything one process shares: the HTTP pool, the store and the bridge."""

    settings: Settings
    http: httpx.AsyncClient
    store: Store
    bridge: Bridge
    adapters: list[Adapter] = field(default_factory=list)


def build_apps(settings: Settings, http: httpx.AsyncClient) -> AppDirectory:
    dify = settings.dify
    if not dify.api_key:
        raise ConfigError("DIFY_API_KEY", "is required (the app key from Dify's API Access page)")
    default = DifyApp(
        DEFAULT_APP, DifyClient(dify.api_url, dify.api_key.value, http), dict(dify.inputs)
    )
    routed = [
        DifyApp(route.name, DifyClient(route.api_url, route.api_key.value, http), route.inputs)
        for route in settings.routes
    ]
    scopes = {scope: route.name for route in settings.routes for scope in route.scopes}
    return AppDirectory(default, routed, scopes)


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Open the shared pieces; close them (store last) on the way out."""
    http = make_http_client(
        connect_timeout=settings.dify.connect_timeout, read_timeout=settings.dify.read_timeout
    )
    try:
        apps = build_apps(settings, http)
        store = await open_store(settings.database_url)
        try:
            options = BridgeOptions(
                max_query_chars=settings.max_query_chars,
                stop_button=settings.stop_button,
                feedback_buttons=settings.feedback_buttons,
                suggested_questions=settings.suggested_questions,
                show_citations=settings.show_citations,
                opening_statement=settings.opening_statement,
                quiet_speakers=_quiet_speakers(settings),
                voice_replies=settings.voice_replies,
                max_download_bytes=settings.max_download_bytes,
                max_recording_bytes=settings.max_recording_bytes,
                questions_per_user_per_minute=settings.questions_per_user_per_minute,
                questions_per_channel_per_minute=settings.questions_per_channel_per_minute,
            )
            yield Runtime(settings, http, store, Bridge(store, apps, options))
        finally:
            await store.close()
    finally:
        await http.aclose()


def _quiet_speakers(settings: Settings) -> frozenset[str]:
    """Platforms set not to name speakers (``SLACK_SPEAKER_NAMES=false``...)."""
    quiet = set()
    if settings.slack is not None and not settings.slack.speaker_names:
        quiet.add("slack")
    if settings.discord is not None and not settings.discord.speaker_names:
        quiet.add("discord")
    return frozenset(quiet)


async def serve(
    runtime: Runtime, adapters: list[Adapter], *, until: asyncio.Event | None = None
) -> None:
    """Start ``adapters``, run until SIGTERM/SIGINT (or ``until``), then shut down gently."""
    stop = until or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    started: list[Adapter] = []
    # the first heartbeat before any answer: shares are known, and the answers recorded
    # in flight belong to a live replica
    await runtime.bridge.presence.start()
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("%s adapter running", adapter.name)
        await stop.wait()
        log.info("shutting down: no new turns; finishing answers in progress")
    finally:
        await runtime.bridge.shutdown(runtime.settings.shutdown_grace)
        # every adapter gets stopped, whatever another one's stop raises
        stopped = await asyncio.gather(*(a.stop() for a in started), return_exceptions=True)
        for adapter, result in zip(started, stopped, strict=True):
            if isinstance(result, BaseException):
                log.warning("%s adapter did not stop cleanly: %s", adapter.name, result)
        await runtime.bridge.presence.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)


__all__ = [
    "Runtime",
    "build_apps",
    "open_runtime",
    "serve",
]
