"""Idle memory of a Slack-only bridge, side by side with a bare slack-bolt app, in one run.

Each contender is its own process, started here against the fake Slack of
``tests/fakes/slack.py`` in Socket Mode (and, for the bridge, the demo's fake
Dify); both live in this process, so none of their memory is counted. Once a
contender's websocket is connected and it has sat idle for ``--settle``
seconds, its resident memory is read from ``/proc/<pid>/status`` (``VmRSS``,
and ``VmHWM``, the peak so far).

- ``bare slack-bolt``: ``AsyncApp`` with one ``app_mention`` listener and
  ``AsyncSocketModeHandler``: the least a Socket Mode bot runs.
- ``dify-bridge run``: the real command, Slack only, SQLite store.
- ``dify-bridge run, PyAV at start``: the same with ``av`` imported first, as
  before PyAV was loaded only for a conversion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack

from bench.common import ROOT, print_json
from dify_bridge.demo.fake_dify import FakeDify

BARE_BOLT = """
import asyncio, os
from slack_bolt.async_app import AsyncApp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

async def main():
    env = os.environ
    client = AsyncWebClient(token=env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"])
    app = AsyncApp(client=client)

    @app.event("app_mention")
    async def mention(event, say):
        await say(text="hi", thread_ts=event["ts"])

    handler = AsyncSocketModeHandler(app, os.environ["SLACK_APP_TOKEN"])
    await handler.start_async()

asyncio.run(main())
"""

BRIDGE = "from dify_bridge.cli import main; raise SystemExit(main(['run']))"
BRIDGE_WITH_AV = "import av; " + BRIDGE

CONTENDERS = (
    ("bare slack-bolt (AsyncApp + Socket Mode)", BARE_BOLT),
    ("dify-bridge run (Slack only)", BRIDGE),
    ("dify-bridge run, PyAV imported at start (before)", BRIDGE_WITH_AV),
)


def status_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


async def measure(
    name: str, code: str, env: dict[str, str], slack: FakeSlack, settle: float
) -> dict[str, Any]:
    connected = slack.socket_connections
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        cwd=env["SCRATCH"],
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            while slack.socket_connections == connected:
                if process.returncode is not None:
                    err = b"" if process.stderr is None else await process.stderr.read()
                    raise RuntimeError(f"{name} exited: {err.decode()[-2000:]}")
                await asyncio.sleep(0.05)
        await asyncio.sleep(settle)  # idle: connected, nothing to answer
        kib = status_kib(process.pid)
    finally:
        process.terminate()
        await process.wait()
    return {"name": name, "rss_mib": kib["VmRSS"] / 1024, "peak_mib": kib["VmHWM"] / 1024}


async def run(settle: float) -> dict[str, Any]:
    slack = FakeSlack()
    await slack.start()
    dify = FakeDify(host="127.0.0.1", port=0)
    dify_url = await dify.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:
            keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
            env = keep | {
                "SCRATCH": scratch,
                "PYTHONPATH": str(ROOT),
                "DIFY_API_URL": dify_url,
                "DIFY_API_KEY": "app-test",
                "DATABASE_URL": f"sqlite:///{Path(scratch) / 'bench.db'}",
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_APP_TOKEN": APP_TOKEN,
                "SLACK_API_URL": slack.api_url,
                "LOG_LEVEL": "WARNING",
            }
            rows = [await measure(n, c, env, slack, settle) for n, c in CONTENDERS]
    finally:
        await dify.stop()
        await slack.close()
    return {"settle_s": settle, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before reading")
    args = parser.parse_args()
    print_json(asyncio.run(run(args.settle)))


if __name__ == "__main__":
    main()
