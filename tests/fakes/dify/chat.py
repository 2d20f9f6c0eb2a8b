"""``POST /chat-messages``: the request checks, the conversation, blocking mode."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.fakes.dify.records import (
    CHAT_MODES,
    FakeConversation,
    FakeMessage,
    ScriptedAnswer,
    Task,
    is_uuid,
    now,
    split_chunks,
)
from tests.fakes.dify.streaming import Streaming
from tests.fakes.dify.wire import ApiError, ClientGone, citation, usage


class Chat(Streaming):
    """Takes a question; answers it as a stream (see :class:`Streaming`) or in one body."""

    async def _chat_messages(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request)
        if self._failures:
            failure = self._failures.popleft()
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            raise ApiError(failure.status, failure.code, failure.message, headers)
        if self.mode not in CHAT_MODES:
            raise ApiError(400, "not_chat_app")
        body = await self._json(request)

        inputs = body.get("inputs")
        if not isinstance(inputs, dict):
            raise ApiError(400, "invalid_param", "inputs is required and must be an object")
        query = body.get("query")
        if query is None or query == "":
            raise ApiError(400, "invalid_param", "query is required")
        if not isinstance(query, str):
            raise ApiError(400, "invalid_param", "query must be a string")
        user = self._require_user(body.get("user"))
        mode = body.get("response_mode")
        if mode not in (None, "streaming", "blocking"):
            raise ApiError(400, "invalid_param", "response_mode must be streaming or blocking")
        streaming = mode == "streaming"
        if not streaming and self.mode == "agent-chat":
            raise ApiError(400, "invalid_param", "Agent Chat App does not support blocking mode")
        conversation_id = body.get("conversation_id")
        if conversation_id is not None and not isinstance(conversation_id, str):
            raise ApiError(400, "invalid_param", "conversation_id must be a valid UUID")
        conversation_id = (conversation_id or "").strip()
        if conversation_id and not is_uuid(conversation_id):
            raise ApiError(400, "invalid_param", "conversation_id must be a valid UUID")
        self._check_inputs(inputs)
        self._check_files(body.get("files"))

        conv: FakeConversation | None = None
        if conversation_id:
            conv = self._conversation_for(conversation_id, key, user)

        limit = self.max_concurrent_streams
        if limit is not None and self.active_streams >= limit:
            raise ApiError(
                429,
                "too_many_requests",
                "Too many requests. Please try again later. The current maximum concurrent "
                f"requests allowed for this app is {limit}.",
            )

        if conv is None:
            conv = FakeConversation(
                id=str(uuid.uuid4()),
                api_key=key,
                user=user,
                inputs=dict(inputs),
                name=query.strip()[:40] if body.get("auto_generate_name", True) else "New chat",
            )
            self.conversations[conv.id] = conv
        script = self._scripts.popleft() if self._scripts else None
        if script is None:
            script = ScriptedAnswer(chunks=split_chunks(self._default_answer(conv, query)))
        msg = FakeMessage(
            id=str(uuid.uuid4()),
            conversation_id=conv.id,
            user=user,
            query=query,
            inputs=dict(inputs),
            task_id=str(uuid.uuid4()),
        )
        conv.messages.append(msg)
        conv.updated_at = now()
        self.messages[msg.id] = msg
        task = Task(msg.task_id, user)
        self._tasks[task.task_id] = task
        self.active_streams += 1
        try:
            if streaming:
                return await self._stream(request, conv, msg, task, script)
            return await self._blocking(request, conv, msg, task, script)
        finally:
            self.active_streams -= 1
            self._tasks.pop(task.task_id, None)

    def _check_inputs(self, inputs: Mapping[str, Any]) -> None:
        for item in self.parameters.get("user_input_form") or []:
            if not isinstance(item, dict):
                continue
            for kind, spec in item.items():
                if not isinstance(spec, dict):
                    continue
                var = spec.get("variable", "")
                value = inputs.get(var)
                if spec.get("required") and (value is None or value == ""):
                    raise ApiError(400, "invalid_param", f"{var} is required in input form")
                if value is None or value == "":
                    continue
                if kind == "select":
                    options = spec.get("options") or []
                    if value not in options:
                        raise ApiError(
                            400,
                            "invalid_param",
                            f"{var} in input form must be one of the following: {options}",
                        )
                elif kind in ("text-input", "paragraph"):
                    if not isinstance(value, str):
                        raise ApiError(
                            400, "invalid_param", f"{var} in input form must be a string"
                        )
                    max_length = spec.get("max_length")
                    if isinstance(max_length, int) and max_length and len(value) > max_length:
                        raise ApiError(
                            400,
                            "invalid_param",
                            f"{var} in input form must be less than {max_length} characters",
                        )
                elif kind == "number" and not isinstance(value, int | float):
                    raise ApiError(400, "invalid_param", f"{var} in input form must be a number")

    def _check_files(self, files: Any) -> None:
        if files is None:
            return
        if not isinstance(files, list):
            raise ApiError(400, "invalid_param", "files must be a list")
        for item in files:
            if not isinstance(item, dict):
                raise ApiError(400, "invalid_param", "files must be a list of objects")
            method = item.get("transfer_method")
            if method == "local_file":
                if item.get("upload_file_id") not in self.files:
                    raise ApiError(400, "invalid_param", "Invalid upload file")
            elif method == "remote_url":
                if not item.get("url"):
                    raise ApiError(400, "invalid_param", "Invalid file url")
            else:
                raise ApiError(400, "invalid_param", f"Unsupported transfer method: {method}")

    async def _blocking(
        self,
        request: web.Request,
        conv: FakeConversation,
        msg: FakeMessage,
        task: Task,
        script: ScriptedAnswer,
    ) -> web.StreamResponse:
        started = time.monotonic()
        delay = self.chunk_delay if script.delay is None else script.delay
        for sent, chunk in enumerate(script.chunks):
            if script.stall_after is not None and sent >= script.stall_after:
                await self._wait_gone(request)
                msg.status = "error"
                return web.Response(status=204)
            if script.error_after is not None and sent >= script.error_after:
                msg.status = "error"
                raise ApiError(script.error_status, script.error_code, script.error_message)
            if script.reset_after is not None and sent >= script.reset_after:
                with contextlib.suppress(ClientGone):
                    self._reset(request, msg)
                return web.Response(status=204)
            if task.stopped.is_set():
                msg.status = "stopped"
                break
            msg.answer += chunk
            await self._pause(task, delay)
        if script.error_after is not None and script.error_after >= len(script.chunks):
            msg.status = "error"
            raise ApiError(script.error_status, script.error_code, script.error_message)
        if self.mode == "advanced-chat" and script.workflow_error is not None:
            msg.status = "error"
            raise ApiError(400, "invalid_param", f"Run failed: {script.workflow_error}")
        if script.replace_with is not None:
            msg.answer = script.replace_with
        citations = [citation(i, c) for i, c in enumerate(script.citations)]
        msg.retriever_resources = citations
        body = {
            "event": "message",
            "task_id": msg.task_id,
            "id": msg.id,
            "message_id": msg.id,
            "conversation_id": conv.id,
            "mode": "advanced-chat" if self.mode == "advanced-chat" else "chat",
            "answer": msg.answer,
            "metadata": {
                "usage": usage(msg.query, msg.answer, time.monotonic() - started),
                "retriever_resources": citations,
            },
            "created_at": msg.created_at,
        }
        return web.json_response(body)
