"""Scripted faults: stalls, mid-stream errors, resets, early ends, paused or failed chatflows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.fakes.dify.records import FakeMessage, ScriptedAnswer, Task
from tests.fakes.dify.scripting import Scripting
from tests.fakes.dify.wire import ClientGone, Sse
from tests.fakes.dify.workflow import WorkflowRun


class Faults(Scripting):
    """How an answer misbehaves when its script says so (counted in chunks sent)."""

    async def _fault_at(
        self,
        sent: int,
        sse: Sse,
        request: web.Request,
        base: Mapping[str, Any],
        msg: FakeMessage,
        script: ScriptedAnswer,
        pinger: asyncio.Task[None],
    ) -> bool:
        """Act on a fault due once ``sent`` chunks are out; True: the answer ends here."""
        if script.stall_after is not None and sent >= script.stall_after:
            pinger.cancel()
            await self._wait_gone(request)
            raise ClientGone
        if script.error_after is not None and sent >= script.error_after:
            await self._send_error(sse, base, msg, script)
            return True
        if script.reset_after is not None and sent >= script.reset_after:
            self._reset(request, msg)
        if script.end_after is not None and sent >= script.end_after:
            msg.status = "error"
            return True
        return False

    async def _chatflow_halts(
        self,
        sse: Sse,
        run: WorkflowRun,
        base: Mapping[str, Any],
        msg: FakeMessage,
        script: ScriptedAnswer,
    ) -> bool:
        """A Human Input node pauses the run, or the run fails; True: the stream ends here."""
        if script.human_input is not None:
            await sse.send(run.node_started(base, "human-input", "Human Input", 3))
            form = run.human_input_form(msg, script.human_input)
            await sse.send(run.event(base, "human_input_required", form))
            await sse.send(run.paused(base, form))
            return True  # the workflow waits: no message_end, no workflow_finished
        if script.workflow_error is not None:
            msg.status = "error"
            await sse.send(run.node_started(base, "answer", "Answer", 3))
            await sse.send(
                run.node_finished(base, "answer", "Answer", 3, {}, error=script.workflow_error)
            )
            await sse.send(run.finished(base, msg.answer, script.workflow_error))
            await sse.send(
                {
                    "event": "error",
                    **base,
                    "status": 400,
                    "code": "invalid_param",
                    "message": f"Run failed: {script.workflow_error}",
                }
            )
            return True
        return False

    async def _pause(self, task: Task, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task.stopped.wait(), seconds)

    async def _wait_gone(self, request: web.Request) -> None:
        """Return once the client has gone away or the server is stopping."""
        while request.transport is not None and not request.transport.is_closing():
            try:
                await asyncio.wait_for(self._closing.wait(), 0.02)
            except TimeoutError:
                continue
            return

    async def _send_error(
        self, sse: Sse, base: Mapping[str, Any], msg: FakeMessage, script: ScriptedAnswer
    ) -> None:
        msg.status = "error"
        await sse.send(
            {
                "event": "error",
                **base,
                "status": script.error_status,
                "code": script.error_code,
                "message": script.error_message,
            }
        )

    @staticmethod
    def _reset(request: web.Request, msg: FakeMessage) -> None:
        msg.status = "error"
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise ClientGone
