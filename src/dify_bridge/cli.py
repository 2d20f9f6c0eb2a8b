"""The ``dify-bridge`` command: run, demo, check, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dify_bridge import __version__
from dify_bridge.config import Settings, load_environment, parse_settings
from dify_bridge.dify.client import make_http_client
from dify_bridge.dify.preflight import preflight
from dify_bridge.errors import BridgeError, ConfigError
from dify_bridge.launch import platform_adapters, run_console
from dify_bridge.ops.logs import configure_logging
from dify_bridge.ops.runtime import build_apps, open_runtime, serve
from dify_bridge.store import redact_url

log = logging.getLogger("dify_bridge")

DEMO_KEY = "app-offline-demo"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dify-bridge",
        description="Put a Dify chat app into Slack threads and Discord channels.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--env-file", default=".env", help="file of settings to read (default: .env)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run",
        help="start every adapter whose credentials are set (the offline demo when none are)",
    )
    demo = commands.add_parser(
        "demo", help="chat in the terminal through the whole engine (offline by default)"
    )
    demo.add_argument(
        "--dify", action="store_true", help="use the real DIFY_API_URL / DIFY_API_KEY"
    )
    commands.add_parser("check", help="validate the settings and reach each configured service")
    migrate = commands.add_parser(
        "migrate",
        help="copy threads and answers to another database (e.g. SQLite to PostgreSQL)",
        description="Copy thread mappings and answer messages from one database to another. "
        "Records the target already has are kept, so running it again is harmless.",
    )
    migrate.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="e.g. sqlite:///dify-bridge.db"
    )
    migrate.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="e.g. postgresql://user@host/db"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    try:
        if command == "migrate":
            return _migrate(args.source, args.target)
        env = load_environment(args.env_file)
        offline = command == "demo" and not args.dify
        settings = parse_settings(_offline(env) if offline else env)
        if command == "run" and not settings.has_platform and not settings.dify.api_key:
            offline = True  # nothing configured yet: the offline demo
            settings = parse_settings(_offline(env))
        console = command in ("run", "demo") and (command == "demo" or not settings.has_platform)
        configure_logging(
            _log_level(env, settings, console=console, offline=offline),
            secrets=settings.secrets,
            as_json=settings.log_json,
        )
        if command == "check":
            return asyncio.run(_check(settings))
        return asyncio.run(_run(settings, command=command, offline=offline))
    except ConfigError as exc:
        print(f"dify-bridge: configuration error: {exc}", file=sys.stderr)
        return 2
    except BridgeError as exc:
        print(f"dify-bridge: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _migrate(source: str, target: str) -> int:
    from dify_bridge.store.migrate import copy_store

    configure_logging("WARNING", secrets=[])
    report = asyncio.run(copy_store(source, target))
    print(f"{redact_url(source)} → {redact_url(target)}: {report.line()}")
    return 0


def _offline(env: dict[str, str]) -> dict[str, str]:
    """Settings for the offline demo: nothing of the real set-up (no platforms, no real
    apps, routes or inputs, no production database), a built-in fake Dify."""
    kept = {k: v for k, v in env.items() if k.startswith("LOG_")}
    kept["DIFY_API_KEY"] = DEMO_KEY
    return kept


def _log_level(env: dict[str, str], settings: Settings, *, console: bool, offline: bool) -> str:
    """``LOG_LEVEL`` if set; else quieter when the terminal is the chat itself."""
    if env.get("LOG_LEVEL", "").strip():
        return settings.log_level
    if offline:
        return "ERROR"  # the demo's notices are in the conversation already
    return "WARNING" if console else "INFO"


async def _run(settings: Settings, *, command: str, offline: bool) -> int:
    fake = None
    scratch = None
    if offline:
        # each command imports what only it uses: a running bot stays lean
        from dify_bridge.demo.fake_dify import FakeDify

        fake = FakeDify(api_keys=(DEMO_KEY,), chunk_delay=0.04)
        url = await fake.start()
        # the fake forgets its conversations on exit, so the demo's store does too
        scratch = tempfile.TemporaryDirectory(prefix="dify-bridge-demo-")
        settings = replace(
            settings,
            dify=replace(settings.dify, api_url=url),
            database_url=f"sqlite:///{Path(scratch.name) / 'demo.db'}",
        )
    try:
        async with open_runtime(settings) as runtime:
            await preflight(list(runtime.bridge.apps), variable_of=_variables(settings))
            if command == "run" and settings.has_platform:
                await serve(runtime, platform_adapters(runtime))
            else:
                await run_console(runtime, banner=_banner(settings, offline))
    finally:
        if fake is not None:
            await fake.stop()
        if scratch is not None:
            scratch.cleanup()
    return 0


def _variables(settings: Settings) -> dict[str, str]:
    """Which setting to name when an app fails its checks."""
    return {route.name: "DIFY_ROUTES_FILE" for route in settings.routes}


def _banner(settings: Settings, offline: bool) -> str:
    where = (
        "an offline fake Dify (no credentials needed)"
        if offline
        else f"the Dify app at {settings.dify.api_url}"
    )
    hint = (
        "\nSet SLACK_* or DISCORD_* settings (see .env.example) to run on a platform instead."
        if offline
        else ""
    )
    return f"dify-bridge {__version__}: chatting with {where}. Store: {settings.database_url}{hint}"


async def _check(settings: Settings) -> int:
    from dify_bridge.ops.checks import run_checks

    async with make_http_client(connect_timeout=settings.dify.connect_timeout) as http:
        results = await run_checks(settings, build_apps(settings, http), http)
    for result in results:
        print(result.line())
    return 0 if all(r.ok for r in results) else 1


__all__ = [
    "DEMO_KEY",
    "build_parser",
    "main",
]
