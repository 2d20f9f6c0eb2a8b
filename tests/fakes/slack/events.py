"""What users do, as Slack delivers it: Events API bodies, actions, commands, signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from tests.fakes.bodies import Serving
from tests.fakes.slack.records import APP_ID, FakeFile, FakeMessage, message_view
from tests.fakes.slack.state import SlackState


def sign_request(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends with an Events API request: ``v0`` HMAC-SHA256 signature."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


class Events(SlackState):
    """Builds the events, files and payloads of users' actions; posts signed ones to the app."""

    def event_callback(
        self, event: dict[str, Any], *, event_id: str = "", source_team: str = ""
    ) -> dict[str, Any]:
        """An Events API body wrapping ``event``, as Slack delivers it.

        ``source_team``: the event is in a Slack Connect channel that workspace created;
        Slack then puts it in the top-level ``team_id``, and ``authorizations`` still
        name the installation the event is delivered to."""
        enterprise = self.workspace.enterprise_id  # the organization's, on Enterprise Grid
        grid = {"enterprise_id": enterprise} if enterprise else {}
        return {
            "token": "legacy-verification-token",
            "team_id": source_team or self.team_id,
            **grid,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._events):08d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    **grid,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }

    def user_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U1",
        thread_ts: str | None = None,
        channel_type: str = "channel",
        mention: bool = False,
        event_type: str = "message",
        **extra: Any,
    ) -> dict[str, Any]:
        """A user writes ``text``: stored in the workspace; returns its event.

        ``mention`` prefixes the bot mention; ``event_type="app_mention"``
        gives the event Slack sends for a mention.
        """
        body = f"<@{self.bot_user_id}> {text}" if mention else text
        message = self.add_message(channel, body, user=user, thread_ts=thread_ts)
        event: dict[str, Any] = {
            "type": event_type,
            "user": user,
            "text": body,
            "ts": message.ts,
            "channel": channel,
            "event_ts": message.ts,
            "team": self.team_id,
        }
        if event_type == "message":
            event["channel_type"] = channel_type
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        event.update(extra)
        return event

    def reaction_event(
        self, channel: str, ts: str, name: str, *, user: str = "U1", added: bool = True
    ) -> dict[str, Any]:
        message = self.messages.get((channel, ts))
        event: dict[str, Any] = {
            "type": "reaction_added" if added else "reaction_removed",
            "user": user,
            "reaction": name,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": self.next_ts(),
        }
        if message is not None:
            event["item_user"] = message.user
        return event

    def add_file(
        self,
        name: str,
        content: bytes,
        mimetype: str = "text/plain",
        *,
        serving: Serving | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A file a user shared; returns the file object an event's ``files`` carries.

        ``extra`` overrides or adds fields (e.g. ``size``, ``subtype``); ``serving``
        says how the download is served.
        """
        file = FakeFile(f"F{next(self._ts):08d}", name, mimetype, content, team_id=self.team_id)
        if serving is not None:
            file.serving = serving
        self.files[file.id] = file
        url = f"{self.base_url}/files-pri/{file.id}/{name}"
        return {
            "id": file.id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(content),
            "url_private": url,
            "url_private_download": url + "?download=1",
            "mode": "hosted",
        } | extra

    def audio_clip(
        self, content: bytes, *, filetype: str = "webm", mimetype: str = "audio/webm"
    ) -> dict[str, Any]:
        """A clip recorded in Slack's composer: ``subtype: slack_audio`` (mp4 ones say video)."""
        return self.add_file(
            f"audio_message.{filetype}", content, mimetype, subtype="slack_audio", filetype=filetype
        )

    def block_action(
        self, message: FakeMessage, action_id: str, *, user: str = "U1"
    ) -> dict[str, Any]:
        """The ``block_actions`` payload of a click on one of ``message``'s buttons."""
        action = self.feedback_click(message, action_id)
        if action is None:
            (button,) = [b for b in message.buttons() if b["action_id"] == action_id]
            action = {
                "type": "button",
                "action_id": action_id,
                "block_id": "dify_controls",
                "text": button["text"],
                "value": button.get("value", ""),
                "action_ts": f"{time.time():.6f}",
            }
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        }
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": container,
            "trigger_id": f"{next(self._events)}.trigger",
            "team": {"id": self.team_id, "domain": "fake"},
            "channel": {"id": message.channel, "name": f"channel-{message.channel.lower()}"},
            "message": message_view(message),
            "actions": [action],
        }

    def view_submission(
        self, view: dict[str, Any], values: dict[str, str], *, user: str = "U1"
    ) -> dict[str, Any]:
        """The ``view_submission`` payload of a modal filled in with ``values`` (by block id)."""
        state: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            value = values.get(block["block_id"], "")
            if element["type"] == "static_select":
                chosen = {"text": {"type": "plain_text", "text": value}, "value": value}
                entry = {"type": "static_select", "selected_option": chosen if value else None}
            else:
                entry = {"type": element["type"], "value": value or None}
            state[block["block_id"]] = {element["action_id"]: entry}
        return {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "trigger_id": f"{next(self._events)}.trigger",
            "view": {**view, "state": {"values": state}, "team_id": self.team_id},
        }

    def slash_command(
        self, channel: str, text: str = "", *, user: str = "U1", command: str = "/dify"
    ) -> dict[str, str]:
        """The form fields Slack posts for a slash command (no thread: Slack never says)."""
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else f"c-{channel}",
            "user_id": user,
            "user_name": self.users.get(user, user).lower(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": f"{self.base_url}/commands/{next(self._events)}",
            "trigger_id": f"{next(self._events)}.trigger",
        }

    async def post_command(
        self, url: str, fields: dict[str, str], *, secret: str | None = None
    ) -> tuple[int, str]:
        """POST a slash command the way Slack does (signed form fields); return (status, body)."""
        return await self._post_form(url, urlencode(fields), secret)

    async def post_action(
        self, url: str, payload: dict[str, Any], *, secret: str | None = None
    ) -> tuple[int, str]:
        """POST an interactive payload the way Slack does (form field ``payload``, signed)."""
        return await self._post_form(url, "payload=" + quote(json.dumps(payload)), secret)

    async def _post_form(self, url: str, raw: str, secret: str | None) -> tuple[int, str]:
        headers = sign_request(raw, self.signing_secret if secret is None else secret)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=raw.encode(), headers=headers) as response,
        ):
            return response.status, await response.text()

    async def post_event(
        self,
        url: str,
        body: dict[str, Any],
        *,
        retry_num: int | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, str]:
        """POST a signed Events API body to the app; return (status, body)."""
        raw = json.dumps(body)
        headers = sign_request(raw, self.signing_secret if secret is None else secret, timestamp)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=raw.encode(), headers=headers) as response,
        ):
            return response.status, await response.text()
