"""Operations endpoints: ``GET /healthz`` and ``GET /metrics``.

Slack's HTTP mode serves them beside ``/slack/events``; otherwise
``METRICS_PORT`` starts a small server of their own.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from dify_bridge.ops.metrics import CONTENT_TYPE_LATEST, Metrics


def add_ops_routes(app: web.Application, metrics: Metrics, ready: Callable[[], bool]) -> None:
    async def healthz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="starting\n")

    async def metrics_page(_: web.Request) -> web.Response:
        body = metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)


class OpsServer:
    """A standalone server for the endpoints, when no other HTTP server runs."""

    name = "metrics"

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self._metrics = metrics
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        app = web.Application()
        add_ops_routes(app, self._metrics, lambda: True)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, self._host, self._port).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
