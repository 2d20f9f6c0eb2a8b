"""Operations endpoints: ``GET /healthz`` and ``GET /metrics``.

``METRICS_PORT`` starts a small server of their own in every mode (the
container image sets 9090; unset, there is none). Slack's HTTP mode also
serves ``/healthz`` beside ``/slack/events`` on ``PORT``, for its load
balancer; ``/metrics`` is never on that public port.

Both servers answer what aiohttp cannot parse (a header or URL over 8 KiB, a
broken request line, a bad ``Content-Length``) with aiohttp's own 400, and
log it in one line through :func:`server_logger` instead of aiohttp's
``Error handling request`` with a traceback. Wrong methods are 405, unknown
paths 404, ``HEAD`` is answered like ``GET``; query strings and bodies are
never read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from dify_bridge.core.ports import Adapter
from dify_bridge.ops.metrics import CONTENT_TYPE_LATEST, Metrics


def add_health_route(app: web.Application, ready: Callable[[], bool]) -> None:
    """``GET /healthz`` alone: what a public port (Slack's events port) serves."""
    _add_healthz(app, lambda: [] if ready() else ["starting"])


def add_ops_routes(
    app: web.Application, metrics: Metrics, down: Callable[[], Sequence[str]]
) -> None:
    """``GET /healthz`` (503 naming what is ``down``) and ``GET /metrics``."""
    _add_healthz(app, down)

    async def metrics_page(_: web.Request) -> web.Response:
        body = metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", metrics_page)


def _add_healthz(app: web.Application, down: Callable[[], Sequence[str]]) -> None:
    async def healthz(_: web.Request) -> web.Response:
        problems = down()
        if not problems:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=f"down: {', '.join(problems)}\n")

    app.router.add_get("/healthz", healthz)


class _ClientErrorsInOneLine(logging.Filter):
    """aiohttp logs a request it cannot parse (a 4xx it answers itself) as an error with a
    traceback; that is the client's fault, so it becomes one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError) or not 400 <= (error.code or 0) < 500:
            return True
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        detail = " ".join(str(error.message or "").split())[:120]
        record.msg = "bad HTTP request from %s refused with %s: %s"
        record.args = (remote, error.code, detail or type(error).__name__)
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def server_logger() -> logging.Logger:
    """The logger to give ``web.AppRunner(logger=...)`` for every server facing a network."""
    logger = logging.getLogger("dify_bridge.http")
    if not any(isinstance(f, _ClientErrorsInOneLine) for f in logger.filters):
        logger.addFilter(_ClientErrorsInOneLine())
    return logger


class OpsServer:
    """The ``METRICS_PORT`` server: ``/healthz`` and ``/metrics`` in every mode.

    ``/healthz`` is 503 while any of ``watched`` (the platform adapters) is not
    healthy: before it has started, and while its websocket or gateway is down.
    """

    name = "metrics"

    def __init__(
        self, metrics: Metrics, host: str, port: int, *, watched: Sequence[Adapter] = ()
    ) -> None:
        self._metrics = metrics
        self._host = host
        self._port = port
        self._watched = tuple(watched)
        self._runner: web.AppRunner | None = None
        self.port = port

    @property
    def healthy(self) -> bool:
        return self._runner is not None

    def down(self) -> list[str]:
        """The watched adapters that are not healthy, by name."""
        return [adapter.name for adapter in self._watched if not adapter.healthy]

    async def start(self) -> None:
        app = web.Application()
        add_ops_routes(app, self._metrics, self.down)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, logger=server_logger())
        await runner.setup()
        await web.TCPSite(runner, self._host, self._port).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


__all__ = [
    "OpsServer",
    "add_health_route",
    "add_ops_routes",
    "server_logger",
]
