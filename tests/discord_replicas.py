"""``dify-bridge run`` processes on the fake Discord, sharing PostgreSQL (for the shard tests
and the takeover bench)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.discord import FakeDiscord


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DiscordReplica:
    process: asyncio.subprocess.Process
    metrics_port: int
    log: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None
    running: asyncio.Event = field(default_factory=asyncio.Event)

    def says(self, text: str) -> bool:
        return any(text in line for line in self.log)

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                code = await self.process.wait()
        finally:
            if self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
            if self.reader is not None:
                await asyncio.gather(self.reader, return_exceptions=True)
        return code


def replica_env(
    discord: FakeDiscord, dify_url: str, database_url: str, **extra: str
) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "DIFY_", "DATABASE_URL", "METRICS_"))
    }
    return (
        inherited
        | discord.env()
        | {
            "DIFY_API_URL": dify_url,
            "DIFY_API_KEY": "app-test",
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "INFO",
            "SHUTDOWN_GRACE_SECONDS": "5",
        }
        | extra
    )


async def start_discord_replica(env: dict[str, str], cwd: Path) -> DiscordReplica:
    """Start one process; return once its Discord adapter runs (holding shards or standing by)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dify_bridge",
        "run",
        env=env | {"METRICS_PORT": str(port)},
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    replica = DiscordReplica(process, port)

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            replica.log.append(line)
            if "discord adapter running" in line:
                replica.running.set()
        replica.running.set()

    replica.reader = asyncio.create_task(read_log())
    try:
        async with asyncio.timeout(60):
            await replica.running.wait()
        if process.returncode is not None or not replica.says("discord adapter running"):
            raise AssertionError("the bridge did not start:\n" + "\n".join(replica.log))
    except BaseException:
        await replica.stop()
        raise
    return replica


async def start_replicas(
    env: dict[str, str], cwd: Path, replicas: list[DiscordReplica], count: int = 2
) -> list[DiscordReplica]:
    """Start ``count`` replicas one after the other (the first claims the shards), each
    added to ``replicas`` as soon as it runs (so :func:`replicas_stopped_at_exit` stops it)."""
    for _ in range(count):
        replicas.append(await start_discord_replica(env, cwd))
    return replicas[-count:]


@contextlib.asynccontextmanager
async def replicas_stopped_at_exit(replicas: list[DiscordReplica]):  # type: ignore[no-untyped-def]
    try:
        yield replicas
    finally:
        for replica in replicas:
            await replica.stop()
