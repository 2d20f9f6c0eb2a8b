"""REST: the bot token, recorded calls, rate limits (buckets and injected 429s), lookups."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tests.fakes.discord.records import CALL, FILES, Bucket, FakeFile, Json, RateLimitRule, RestCall
from tests.fakes.discord.responses import ApiError, json_reply, not_found, too_many
from tests.fakes.discord.shards import recommended_shards
from tests.fakes.discord.state import DiscordState


class Rest(DiscordState):
    """Every REST request passes :meth:`_middleware`; the bot's identity and gateway URLs."""

    def rate_limit(
        self,
        method: str,
        path_pattern: str,
        *,
        retry_after: float = 0.3,
        count: int = 1,
        is_global: bool = False,
    ) -> None:
        """Answer the next ``count`` matching requests with 429, as Discord does."""
        self._rules.append(
            RateLimitRule(method, re.compile(path_pattern), count, retry_after, is_global)
        )

    def drop_next(self, method: str, path_pattern: str, *, holding: str = "") -> None:
        """Drop the connection of the next matching request (whose JSON body holds
        ``holding``, when given) without answering, as a network failure does."""
        self.drops.append((method, re.compile(path_pattern), holding))

    def _dropped(self, call: RestCall) -> bool:
        for index, (method, path, holding) in enumerate(self.drops):
            body = json.dumps(call.json, ensure_ascii=False)
            if method == call.method and path.search(call.path) and holding in body:
                del self.drops[index]
                return True
        return False

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if request.path == "/gateway" or request.path.startswith("/attachments/"):
            result: web.StreamResponse = await handler(request)
            return result
        path = request.path.removeprefix("/api/v10")
        body: Any = None
        uploads: list[FakeFile] = []
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            form = await request.post()
            body = json.loads(str(form.get("payload_json", "{}")))
            body["_files"] = [k for k in form if k != "payload_json"]
            for key in body["_files"]:
                field_ = form[key]
                if isinstance(field_, web.FileField):
                    data = field_.file.read()
                    uploads.append(FakeFile(field_.filename, field_.content_type, data))
        call = RestCall(request.method, unquote(path), body)
        self.calls.append(call)
        request[CALL] = call
        request[FILES] = uploads
        # interaction callbacks are authorised by the interaction token, not the bot token
        if self._dropped(call) and request.transport is not None:
            request.transport.abort()
            raise web.HTTPInternalServerError()  # never reaches the client
        needs_token = not path.startswith(("/interactions/", "/webhooks/"))
        if needs_token and request.headers.get("Authorization") != f"Bot {self.token}":
            response = json_reply({"message": "401: Unauthorized", "code": 0}, status=401)
        elif (limited := self._injected_limit(call)) is not None:
            response = limited
        else:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = json_reply({"message": exc.message, "code": exc.code}, status=exc.status)
            except web.HTTPException as exc:
                response = json_reply(
                    {"message": f"{exc.status}: {exc.reason}", "code": 0}, status=exc.status
                )
        call.status = response.status
        if response.status == 429:
            self.ratelimited.append(call)
        response.headers.setdefault("Via", "1.1 google")
        await self._notify()
        return response

    def _injected_limit(self, call: RestCall) -> web.Response | None:
        for rule in self._rules:
            if rule.count > 0 and rule.method == call.method and rule.path.search(call.path):
                rule.count -= 1
                return too_many(rule.retry_after, is_global=rule.is_global)
        return None

    def _take(self, kind: str, channel_id: int) -> dict[str, str] | None:
        """Count one request against a per-channel bucket; None when it is exhausted."""
        limit, window = self.bucket_limits[kind]
        bucket = self._buckets.setdefault((kind, channel_id), Bucket(limit, window))
        now = time.monotonic()
        if now >= bucket.reset_at:
            bucket.used, bucket.reset_at = 0, now + window
        if bucket.used >= limit:
            return None
        bucket.used += 1
        reset_after = max(bucket.reset_at - now, 0.001)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(limit - bucket.used),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"{kind}-bucket",
        }

    def _limited(self, kind: str, channel_id: int) -> web.Response | dict[str, str]:
        headers = self._take(kind, channel_id)
        if headers is not None:
            return headers
        bucket = self._buckets[(kind, channel_id)]
        return too_many(max(bucket.reset_at - time.monotonic(), 0.001), bucket=f"{kind}-bucket")

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_reply(self.bot.payload() | {"verified": True, "mfa_enabled": False, "flags": 0})

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_reply(
            {
                "id": str(self.application_id),
                "name": self.bot.name,
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None},
                "verify_key": "0" * 64,
                # GATEWAY_MESSAGE_CONTENT_LIMITED: the switch on the Bot page
                "flags": (1 << 19) if self.message_content_enabled else 0,
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_reply({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_reply(
            {
                "url": self.gateway_url,
                "shards": recommended_shards(len(self.guilds), self.guilds_per_shard),
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    def _channel(self, request: web.Request) -> Json:
        channel = self.channels.get(int(request.match_info["cid"]))
        if channel is None:
            raise not_found("Unknown Channel", 10003)
        return channel

    def _message(self, request: web.Request) -> Json:
        self._channel(request)
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None or message["channel_id"] != request.match_info["cid"]:
            raise not_found("Unknown Message", 10008)
        return message
