"""Interactions: button clicks and slash commands, and the bot's callbacks and follow-ups."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.discord.records import CALL, EPHEMERAL_FLAG, FakeUser, InteractionCallback, Json
from tests.fakes.discord.responses import json_reply, not_found
from tests.fakes.discord.world import World


class Interactions(World):
    """INTERACTION_CREATE for users' clicks and commands; the bot's answers to them."""

    async def click(self, message: Json, user: FakeUser, custom_id: str) -> int:
        """``user`` clicks the button ``custom_id`` under ``message``; returns the interaction id."""
        current = self.messages[int(message["id"])]
        if custom_id not in [b["custom_id"] for b in self.buttons(current)]:
            raise AssertionError(f"no button {custom_id!r} under message {message['id']}")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, int(current["channel_id"]), user, data, message=current)

    async def click_forged(self, message: Json, user: FakeUser, custom_id: str) -> int:
        """A component interaction on ``message`` with any ``custom_id`` (a forged click)."""
        current = self.messages[int(message["id"])]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, int(current["channel_id"]), user, data, message=current)

    async def run_command(self, channel_id: int, user: FakeUser, name: str) -> int:
        """``user`` runs the slash command ``/name`` in a channel; returns the interaction id."""
        registered = [c["name"] for c in self.commands or []]
        if name not in registered:
            raise AssertionError(f"/{name} is not registered (registered: {registered})")
        data = {"id": str(self.snowflake()), "name": name, "type": 1}
        return await self._interact(2, channel_id, user, data)

    def reply_for(self, interaction_id: int) -> Json | None:
        """What the person who ran a command reads: the direct answer or the first follow-up."""
        callback = self.callback_for(interaction_id)
        if callback is not None and callback.type == 4:
            return callback.data
        sent = self.followups.get(interaction_id)
        return sent[0] if sent else None

    def callback_for(self, interaction_id: int) -> InteractionCallback | None:
        return next((c for c in self.callbacks if c.interaction_id == interaction_id), None)

    async def _interact(
        self, kind: int, channel_id: int, user: FakeUser, data: Json, *, message: Json | None = None
    ) -> int:
        channel = self.channels[channel_id]
        interaction_id = self.snowflake()
        payload: Json = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": f"interaction-token-{interaction_id}",
            "version": 1,
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(channel_id),
            "channel": channel,
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {},
        }
        guild = self._guild_of(channel)
        if guild is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild_locale"] = "en-US"
            payload["member"] = self._member_payload(guild, user) | {"permissions": "0"}
            payload["context"] = 0
        else:
            payload["user"] = user.payload()
            payload["context"] = 1
        if message is not None:
            payload["message"] = message
        self.interactions[interaction_id] = payload
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    async def _put_commands(self, request: web.Request) -> web.Response:
        if int(request.match_info["aid"]) != self.application_id:
            raise not_found("Unknown Application", 10002)
        body = request[CALL].json
        if not isinstance(body, list):
            return json_reply({"message": "Invalid Form Body", "code": 50035}, status=400)
        registered = [
            {
                "id": str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "default_member_permissions": None,
                "type": 1,
                "options": [],
                "nsfw": False,
                **command,
            }
            for command in body
        ]
        self.commands = registered
        return json_reply(registered)

    async def _followup(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = [i for i in self.interactions.values() if i["token"] == token]
        if str(self.application_id) != request.match_info["aid"] or not found:
            raise not_found("Unknown Webhook", 10015)
        interaction_id = int(found[0]["id"])
        if self.callback_for(interaction_id) is None:  # follow-ups come after the answer
            raise not_found("Unknown Webhook", 10015)
        body: Json = request[CALL].json or {}
        self.followups.setdefault(interaction_id, []).append(body)
        channel_id = int(found[0]["channel_id"])
        message = self._message_payload(channel_id, self.bot, str(body.get("content") or ""), 0)
        message["flags"] = body.get("flags", 0)
        return json_reply(message)

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        interaction_id = int(request.match_info["iid"])
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction["token"] != request.match_info["token"]:
            raise not_found("Unknown interaction", 10062)
        if self.callback_for(interaction_id) is not None:
            return json_reply(
                {"message": "Interaction has already been acknowledged.", "code": 40060},
                status=400,
            )
        body: Json = request[CALL].json or {}
        callback = InteractionCallback(interaction_id, int(body.get("type", 0)), body.get("data"))
        self.callbacks.append(callback)
        answer: Json = {
            "interaction": {
                "id": str(interaction_id),
                "type": interaction["type"],
                "response_message_loading": callback.type == 5,
                "response_message_ephemeral": bool(
                    (callback.data or {}).get("flags", 0) & EPHEMERAL_FLAG
                ),
            }
        }
        if callback.type == 4:
            channel_id = int(interaction["channel_id"])
            content = str((callback.data or {}).get("content") or "")
            message = self._message_payload(channel_id, self.bot, content, 20)
            message["flags"] = (callback.data or {}).get("flags", 0)
            message["interaction_metadata"] = {"id": str(interaction_id), "type": 2}
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"] = {"type": 4, "message": message}
        return json_reply(answer)
