"""Operations endpoints: ``GET /healthz`` and ``GET /metrics``.

Slack's HTTP mode serves them beside ``/slack/events``; otherwise
``METRICS_PORT`` starts a small server of their own.

Both servers answer what aiohttp cannot parse (a header or URL over 8 KiB, a
broken request line, a bad ``Content-Length``) with aiohttp's own 400, and
log it in one line through :func:`server_logger` instead of aiohttp's
``Error handling request`` with a traceback. Wrong methods are 405, unknown
paths 404, ``HEAD`` is answered like ``GET``; query strings and bodies are
never read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

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
    "add_ops_routes",
    "server_logger",
]
