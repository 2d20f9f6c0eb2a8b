"""Modals: the MODAL interaction callback (type 9) and the MODAL_SUBMIT interaction (type 5).

As Discord's API documents them: a modal is the answer to a component click or
a command (never to a modal submission or a ping); its data has a ``custom_id``
(at most 100 characters), a ``title`` (at most 45) and 1-5 action rows, each
holding one text input (type 4: ``custom_id``, ``style`` 1 short / 2 paragraph,
``label`` at most 45, ``placeholder`` at most 100, ``value`` at most 4000,
``min_length``/``max_length`` 0-4000, ``required`` defaulting to true). The
person who submits it sends a MODAL_SUBMIT interaction whose ``data`` is the
modal's ``custom_id`` and one action row per text input with its ``value``;
a modal opened from a message's button carries that ``message``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.discord.interactions import Interactions
from tests.fakes.discord.records import CALL, FakeUser, Json
from tests.fakes.discord.responses import json_reply

MODAL_CALLBACK = 9
MODAL_SUBMIT = 5
_MODAL_ANSWERS = (2, 3)
"""Interaction types a modal may answer: application commands and components."""


def modal_problem(interaction_type: int, data: Any) -> str:
    """Why Discord would refuse this modal callback (400 Invalid Form Body), or ""."""
    if interaction_type not in _MODAL_ANSWERS:
        return "a modal cannot answer this interaction type"
    if not isinstance(data, dict):
        return "data is required"
    if not str(data.get("custom_id") or "") or len(str(data["custom_id"])) > 100:
        return "custom_id: 1-100 characters"
    if not str(data.get("title") or "") or len(str(data["title"])) > 45:
        return "title: 1-45 characters"
    rows = data.get("components")
    if not isinstance(rows, list) or not 1 <= len(rows) <= 5:
        return "components: 1-5 rows"
    seen: set[str] = set()
    for row in rows:
        inner = row.get("components") if isinstance(row, dict) else None
        if row.get("type") != 1 or not isinstance(inner, list) or len(inner) != 1:
            return "each row holds one text input"
        (text,) = inner
        custom_id = str(text.get("custom_id") or "")
        if text.get("type") != 4 or text.get("style") not in (1, 2):
            return "a text input has type 4 and style 1 or 2"
        if not custom_id or len(custom_id) > 100 or custom_id in seen:
            return "text input custom_id: 1-100 characters, unique"
        seen.add(custom_id)
        if not str(text.get("label") or "") or len(str(text["label"])) > 45:
            return "text input label: 1-45 characters"
        if len(str(text.get("placeholder") or "")) > 100:
            return "text input placeholder: at most 100 characters"
        if len(str(text.get("value") or "")) > 4000:
            return "text input value: at most 4000 characters"
        for bound in ("min_length", "max_length"):
            if bound in text and not 0 <= int(text[bound]) <= 4000:
                return f"text input {bound}: 0-4000"
    return ""


class Modals(Interactions):
    """Modal callbacks checked as Discord checks them; what a person does with a modal."""

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        body = request[CALL].json
        interaction = self.interactions.get(int(request.match_info["iid"]))
        if isinstance(body, dict) and body.get("type") == MODAL_CALLBACK and interaction:
            problem = modal_problem(int(interaction["type"]), body.get("data"))
            if problem:
                error = {"message": f"Invalid Form Body ({problem})", "code": 50035}
                return json_reply(error, status=400)
        return await super()._interaction_callback(request)

    def modal_for(self, interaction_id: int) -> Json | None:
        """The modal the bot opened in answer to an interaction (its callback's data)."""
        callback = next((c for c in self.callbacks if c.interaction_id == interaction_id), None)
        return callback.data if callback is not None and callback.type == MODAL_CALLBACK else None

    async def submit_modal(
        self, interaction_id: int, user: FakeUser, values: dict[str, str]
    ) -> int:
        """``user`` fills the modal opened for ``interaction_id`` with ``values`` (by text
        input ``custom_id``; the others keep their pre-filled value) and submits it."""
        modal = self.modal_for(interaction_id)
        if modal is None:
            raise AssertionError(f"no modal was opened for interaction {interaction_id}")
        origin = self.interactions[interaction_id]
        inputs = [row["components"][0] for row in modal["components"]]
        unknown = set(values) - {str(t["custom_id"]) for t in inputs}
        if unknown:
            raise AssertionError(f"the modal has no text inputs {sorted(unknown)}")
        rows = []
        for text in inputs:
            value = values.get(str(text["custom_id"]), str(text.get("value") or ""))
            if text.get("required", True) and not value:
                raise AssertionError(f"{text['label']!r} is required: Discord would not submit")
            if len(value) > int(text.get("max_length", 4000)):
                raise AssertionError(f"{text['label']!r} is too long")
            rows.append(
                {
                    "type": 1,
                    "components": [
                        {"type": 4, "id": len(rows) * 2 + 2, "custom_id": text["custom_id"]}
                        | {"value": value}
                    ],
                }
            )
        data = {"custom_id": modal["custom_id"], "components": rows}
        channel_id = int(origin["channel_id"])
        message = origin.get("message")
        if message is not None:
            message = self.messages.get(int(message["id"]), message)
        return await self._interact(MODAL_SUBMIT, channel_id, user, data, message=message)
