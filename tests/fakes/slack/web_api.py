"""The Web API: auth, faults and rate limits, then chat, reactions, users, conversations."""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.slack.records import (
    POST_MAX_CHARS,
    UPDATE_MAX_CHARS,
    ApiCall,
    invalid_blocks,
    message_view,
    parse_blocks,
)
from tests.fakes.slack.state import SlackState


class WebApi(SlackState):
    """``/api/{method}``: each method is the ``_api_<method>`` of the fake (dots as ``_``)."""

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if method == "oauth.v2.access":  # the app's client id and secret, no token
            if self.oauth_unreachable and request.transport is not None:
                request.transport.close()  # the connection drops before any answer
            token = ""
            status, payload, headers = 200, self.exchange_code(auth, args), {}
        else:
            status, payload, headers = self._answer(method, token, args)
        retry_after = float(headers["Retry-After"]) if "Retry-After" in headers else None
        error = str(payload.get("error", ""))
        self.calls.append(
            ApiCall(method, args, token, status, error, time.monotonic(), retry_after)
        )
        await self.notify()
        return web.json_response(payload, status=status, headers=headers)

    def _answer(
        self, method: str, token: str, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if method == "apps.connections.open":
            if token != self.app_token:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, self._api_apps_connections_open(args), {}
        caller = self.workspace_of(token)
        if caller is None or not caller.installed:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if self.token_revoked and caller is self.home:
            return 200, {"ok": False, "error": "token_revoked"}, {}
        channel = str(args.get("channel") or args.get("channel_id") or "")
        if channel and self.team_of_channel(channel) != caller.team_id:
            return 200, {"ok": False, "error": "channel_not_found"}, {}  # another workspace's
        before, self._acting = self._acting, caller
        try:
            return self._answer_as_caller(method, args)
        finally:
            self._acting = before

    def _answer_as_caller(
        self, method: str, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        limited = self._check_limit(method) or self._check_tiers(method, args)
        if limited is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limited)}
        faults = self._faults.get(method)
        if faults:
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.popleft()
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
            return fault.status, {"ok": False, "error": fault.error}, headers
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        result: dict[str, Any] = handler(args)
        if method == "auth.test":
            return 200, result, {"x-oauth-scopes": ",".join(self.scopes)}
        return 200, result, {}

    def _check_limit(self, method: str) -> int | None:
        limit = self._limits.get(method)
        if limit is None:
            return None
        now = time.monotonic()
        while limit.stamps and limit.stamps[0] <= now - limit.window:
            limit.stamps.popleft()
        limit.stamps.append(now)
        if len(limit.stamps) <= limit.calls:
            return None
        oldest = limit.stamps[0]
        return max(1, math.ceil(oldest + limit.window - now))

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_id.lower()}.slack.test/",
            "team": self.workspace.name,
            "user": "bridge-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            **(
                {"enterprise_id": self.workspace.enterprise_id}
                if self.workspace.enterprise_id
                else {}
            ),
            "is_enterprise_install": False,
        }

    def _api_auth_revoke(self, args: dict[str, Any]) -> dict[str, Any]:
        """The calling token stops working (an installed workspace's: the app is removed)."""
        self.workspace.installed = False
        return {"ok": True, "revoked": True}

    def _api_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        url = f"ws://127.0.0.1:{self._port}/socket-mode/{uuid.uuid4().hex}"
        return {"ok": True, "url": url}

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        text = str(args.get("text", "") or args.get("markdown_text", "") or "")
        if not channel:
            return self._error("channel_not_found")
        if not text and not args.get("blocks"):
            return self._error("no_text")
        if len(text) > POST_MAX_CHARS:
            return self._error("msg_too_long")
        blocks = parse_blocks(args.get("blocks"))
        if blocks and invalid_blocks(blocks):
            return self._error("invalid_blocks")
        thread_ts = args.get("thread_ts") or None
        message = self.add_message(channel, text, user=self.bot_user_id, thread_ts=thread_ts)
        message.blocks = blocks
        self.replied(channel, thread_ts)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message_view(message)}

    def _api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._message(args)
        if message is None:
            return self._error("message_not_found")
        if message.user != self.bot_user_id:
            return self._error("cant_update_message")
        conflict = self._streaming_conflict(args)
        if conflict is not None:
            return conflict
        text = str(args.get("text", "") or "")
        if len(text) > UPDATE_MAX_CHARS:
            return self._error("msg_too_long")
        blocks = parse_blocks(args.get("blocks"))
        if blocks and invalid_blocks(blocks):
            return self._error("invalid_blocks")
        if text:
            message.text = text
        if "blocks" in args:
            message.blocks = blocks
        message.edits += 1
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text}

    def _api_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._message(args)
        if message is None:
            return self._error("message_not_found")
        message.deleted = True
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self.next_ts()}

    def _api_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """A modal opened from a click: the ``trigger_id`` of that click, used once."""
        trigger = str(args.get("trigger_id", ""))
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not trigger or trigger in self.used_triggers:
            return self._error("invalid_trigger_id")
        if not isinstance(view, dict) or view.get("type") != "modal" or not view.get("title"):
            return self._error("invalid_arguments")
        self.used_triggers.add(trigger)
        opened = {"id": f"V{len(self.views) + 1}", **view}
        self.views.append(opened)
        return {"ok": True, "view": opened}

    def _api_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(args.get("channel", "")), str(args.get("timestamp", ""))))
        if message is None:
            return self._error("message_not_found")
        users = message.reactions.setdefault(str(args.get("name", "")), [])
        if self.bot_user_id in users:
            return self._error("already_reacted")
        users.append(self.bot_user_id)
        return {"ok": True}

    def _api_reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(args.get("channel", "")), str(args.get("timestamp", ""))))
        if message is None:
            return self._error("message_not_found")
        name = str(args.get("name", ""))
        users = message.reactions.get(name, [])
        if self.bot_user_id not in users:
            return self._error("no_reaction")
        users.remove(self.bot_user_id)
        if not users:
            del message.reactions[name]
        return {"ok": True}

    def _api_reactions_get(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((str(args.get("channel", "")), str(args.get("timestamp", ""))))
        if message is None:
            return self._error("message_not_found")
        view = message_view(message)
        view["reactions"] = [
            {"name": name, "users": users, "count": len(users)}
            for name, users in message.reactions.items()
        ]
        return {"ok": True, "type": "message", "channel": message.channel, "message": view}

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user", ""))
        if user_id not in self.users:
            return self._error("user_not_found")
        name = self.users[user_id]
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": self.team_id,
                "name": name.lower(),
                "real_name": name,
                "profile": {"display_name": name, "real_name": name},
                "is_bot": user_id in self.bot_users,
            },
        }

    def _api_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        is_im = channel.startswith("D")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": self.channels.get(channel, f"channel-{channel.lower()}"),
                "is_channel": channel.startswith("C"),
                "is_im": is_im,
            },
        }
