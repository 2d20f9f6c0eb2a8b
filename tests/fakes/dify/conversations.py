"""Conversations and messages: stop, feedback, suggestions, listings, delete, rename."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.dify.records import FakeConversation, FakeMessage, is_uuid, now
from tests.fakes.dify.scripting import Scripting
from tests.fakes.dify.wire import ApiError


class Conversations(Scripting):
    """The endpoints about what was said: each one scoped to the ``(app key, user)``."""

    async def _stop_task(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        user = self._require_user(body.get("user"))
        task_id = request.match_info["task_id"]
        self.stops.append((task_id, user))
        task = self._tasks.get(task_id)
        if task is not None and task.user == user:
            task.stopped.set()
        return web.json_response({"result": "success"})

    async def _feedback(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        user = self._require_user(body.get("user"))
        rating = body.get("rating")
        if rating not in ("like", "dislike", None):
            raise ApiError(400, "invalid_param", "rating must be like, dislike or null")
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            raise ApiError(400, "invalid_param", "content must be a string")
        msg = self._message_for(request.match_info["message_id"], self._key(request), user)
        if rating is None and msg.rating is None:
            raise ApiError(400, "invalid_param", "rating cannot be None when feedback not exists")
        msg.rating = rating
        msg.feedback_content = content if rating is not None else None
        return web.json_response({"result": "success"})

    async def _suggested(self, request: web.Request) -> web.StreamResponse:
        user = self._require_user(request.query.get("user"))
        msg = self._message_for(request.match_info["message_id"], self._key(request), user)
        del msg
        enabled = (self.parameters.get("suggested_questions_after_answer") or {}).get("enabled")
        if not enabled:
            raise ApiError(400, "bad_request", "Suggested Questions Is Disabled.")
        if self.suggestions_held is not None:
            await self.suggestions_held.wait()
        return web.json_response({"result": "success", "data": list(self.suggested_questions)})

    def _message_json(self, msg: FakeMessage) -> dict[str, Any]:
        feedback = {"rating": msg.rating} if msg.rating is not None else None
        return {
            "id": msg.id,
            "conversation_id": msg.conversation_id,
            "parent_message_id": None,
            "inputs": msg.inputs,
            "query": msg.query,
            "answer": msg.answer,
            "message_files": msg.files,
            "feedback": feedback,
            "retriever_resources": msg.retriever_resources,
            "agent_thoughts": msg.agent_thoughts,
            "created_at": msg.created_at,
            "status": "normal" if msg.status == "normal" else "error",
            "error": None if msg.status == "normal" else msg.status,
        }

    @staticmethod
    def _limit(raw: str | None) -> int:
        if raw is None or raw == "":
            return 20
        try:
            limit = int(raw)
        except ValueError as exc:
            raise ApiError(400, "invalid_param", "limit must be an integer") from exc
        if not 1 <= limit <= 100:
            raise ApiError(400, "invalid_param", "limit must be between 1 and 100")
        return limit

    async def _list_messages(self, request: web.Request) -> web.StreamResponse:
        user = self._require_user(request.query.get("user"))
        conversation_id = request.query.get("conversation_id", "")
        if not conversation_id:
            raise ApiError(400, "invalid_param", "conversation_id is required")
        if not is_uuid(conversation_id):
            raise ApiError(400, "invalid_param", "conversation_id must be a valid UUID")
        conv = self._conversation_for(conversation_id, self._key(request), user)
        limit = self._limit(request.query.get("limit"))
        history = list(conv.messages)
        first_id = request.query.get("first_id")
        if first_id:
            ids = [m.id for m in history]
            if first_id not in ids:
                raise ApiError(404, "not_found", "First Message Not Exists.")
            history = history[: ids.index(first_id)]
        page = history[-limit:]
        return web.json_response(
            {
                "limit": limit,
                "has_more": len(history) > limit,
                "data": [self._message_json(m) for m in page],
            }
        )

    async def _list_conversations(self, request: web.Request) -> web.StreamResponse:
        user = self._require_user(request.query.get("user"))
        key = self._key(request)
        limit = self._limit(request.query.get("limit"))
        sort_by = request.query.get("sort_by", "-updated_at")
        field_name = sort_by.lstrip("-")
        if field_name not in ("created_at", "updated_at"):
            raise ApiError(400, "invalid_param", "sort_by is invalid")
        convs = [c for c in self.conversations.values() if c.api_key == key and c.user == user]
        convs.sort(key=lambda c: getattr(c, field_name), reverse=sort_by.startswith("-"))
        last_id = request.query.get("last_id")
        if last_id:
            ids = [c.id for c in convs]
            if last_id not in ids:
                raise ApiError(404, "not_found", "Last Conversation Not Exists.")
            convs = convs[ids.index(last_id) + 1 :]
        page = convs[:limit]
        return web.json_response(
            {
                "limit": limit,
                "has_more": len(convs) > limit,
                "data": [self._conversation_json(c) for c in page],
            }
        )

    @staticmethod
    def _conversation_json(conv: FakeConversation) -> dict[str, Any]:
        return {
            "id": conv.id,
            "name": conv.name,
            "inputs": conv.inputs,
            "status": "normal",
            "introduction": "",
            "created_at": conv.created_at,
            "updated_at": conv.updated_at,
        }

    async def _delete_conversation(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        user = self._require_user(body.get("user"))
        conversation_id = request.match_info["conversation_id"]
        if not is_uuid(conversation_id):
            raise ApiError(400, "invalid_param", "conversation_id must be a valid UUID")
        self._conversation_for(conversation_id, self._key(request), user)
        self.delete_conversation(conversation_id)
        return web.json_response({"result": "success"})

    async def _rename(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        user = self._require_user(body.get("user"))
        conv = self._conversation_for(
            request.match_info["conversation_id"], self._key(request), user
        )
        if body.get("auto_generate"):
            first = conv.messages[0].query if conv.messages else "New conversation"
            conv.name = " ".join(first.split())[:40]
        else:
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, "invalid_param", "name is required")
            conv.name = name.strip()
        conv.updated_at = now()
        return web.json_response(self._conversation_json(conv))
