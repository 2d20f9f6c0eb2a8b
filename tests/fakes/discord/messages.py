"""REST routes of channels and messages: create, edit, delete, threads, reactions, files."""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from tests.fakes.bodies import serve_in_pieces
from tests.fakes.discord.history import History
from tests.fakes.discord.records import CALL, FILES, Json, now
from tests.fakes.discord.responses import ApiError, json_reply


class Messages(History):
    """What the bot does to messages, each answered as Discord does."""

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_reply(self._channel(request))

    async def _typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return web.Response(status=204)

    async def _create_message(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        headers = self._limited("create", channel_id)
        if isinstance(headers, web.Response):
            return headers
        body: Json = request[CALL].json or {}
        message = self._message_payload(channel_id, self.bot, str(body.get("content") or ""), 0)
        message["allowed_mentions"] = body.get("allowed_mentions")
        message["components"] = body.get("components") or []
        message["attachments"] = [self._attachment(f) for f in request[FILES]]
        self._store_message(message)
        await self.dispatch("MESSAGE_CREATE", message)
        return json_reply(message, headers=headers)

    async def _get_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        channel_id = int(message["channel_id"])
        if channel_id in self.hidden_channels:
            raise ApiError(403, "Missing Access", 50001)
        if channel_id in self.without_history:
            raise ApiError(403, "Missing Permissions", 50013)
        return json_reply(self.served(message))

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        headers = self._limited("edit", int(message["channel_id"]))
        if isinstance(headers, web.Response):
            return headers
        if message["author"]["id"] != str(self.bot.id):
            return json_reply(
                {"message": "Cannot edit a message authored by another user", "code": 50005},
                status=403,
            )
        body: Json = request[CALL].json or {}
        if "content" in body:
            message["content"] = body["content"] or ""
            message["edited_timestamp"] = now()
            message["allowed_mentions"] = body.get("allowed_mentions")
        if "components" in body:
            message["components"] = body["components"] or []
        if request[FILES]:
            message["attachments"] = [
                *message["attachments"],
                *(self._attachment(f) for f in request[FILES]),
            ]
        await self.dispatch("MESSAGE_UPDATE", message)
        return json_reply(message, headers=headers)

    async def _delete_message(self, request: web.Request) -> web.Response:
        message = self._message(request)
        self.messages.pop(int(message["id"]))
        self.history[int(message["channel_id"])].remove(int(message["id"]))
        await self.dispatch(
            "MESSAGE_DELETE",
            {
                "id": message["id"],
                "channel_id": message["channel_id"],
                **({"guild_id": message["guild_id"]} if "guild_id" in message else {}),
            },
        )
        return web.Response(status=204)

    async def _create_thread(self, request: web.Request) -> web.Response:
        message = self._message(request)
        parent = self.channels[int(message["channel_id"])]
        if parent["type"] != 0:
            return json_reply(
                {"message": "Cannot execute action on this channel type", "code": 50024}, status=400
            )
        if "thread" in message:
            return json_reply(
                {"message": "A thread has already been created for this message", "code": 160004},
                status=400,
            )
        body: Json = request[CALL].json or {}
        guild = self.guilds[int(parent["guild_id"])]
        thread = {  # Discord gives a thread started from a message that message's id
            "id": message["id"],
            "type": 11,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(self.bot.id),
            "name": str(body.get("name", ""))[:100],
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration") or 1440,
                "archive_timestamp": now(),
                "locked": False,
                "create_timestamp": now(),
            },
        }
        self.channels[int(thread["id"])] = thread
        guild.threads.append(thread)
        message["thread"] = thread
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return json_reply(thread, status=201)

    async def _react(self, request: web.Request) -> web.Response:
        message = self._message(request)
        emoji = unquote(request.match_info["emoji"])
        self.reactions.setdefault(int(message["id"]), {}).setdefault(emoji, set()).add(self.bot.id)
        await self.dispatch(
            "MESSAGE_REACTION_ADD", self._reaction_payload(message, self.bot, emoji)
        )
        return web.Response(status=204)

    async def _unreact(self, request: web.Request) -> web.Response:
        message = self._message(request)
        emoji = unquote(request.match_info["emoji"])
        self.reactions.get(int(message["id"]), {}).get(emoji, set()).discard(self.bot.id)
        payload = self._reaction_payload(message, self.bot, emoji)
        payload.pop("member", None)
        await self.dispatch("MESSAGE_REACTION_REMOVE", payload)
        return web.Response(status=204)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(int(request.match_info["aid"]))
        if file is None or file.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not found")
        return await serve_in_pieces(request, file.data, file.content_type, file.serving)
