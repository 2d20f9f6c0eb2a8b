"""``GET /channels/{id}/messages``: a channel's history as Discord pages it.

Newest first; ``before`` / ``after`` (message ids) bound the page, ``limit``
is 1-100 (default 50, else 400 Invalid Form Body). A channel the bot may not
view answers 403 Missing Access (50001); one where it lacks Read Message
History answers an empty page, as Discord documents. Replies and thread
starter messages carry ``referenced_message``.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.discord.responses import ApiError, json_reply
from tests.fakes.discord.rest import Rest

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class History(Rest):
    async def _channel_history(self, request: web.Request) -> web.Response:
        channel_id = int(self._channel(request)["id"])
        if channel_id in self.hidden_channels:
            raise ApiError(403, "Missing Access", 50001)
        query = request.query
        try:
            limit = int(query.get("limit", DEFAULT_LIMIT))
            before = int(query["before"]) if "before" in query else None
            after = int(query["after"]) if "after" in query else None
        except ValueError:
            raise ApiError(400, "Invalid Form Body", 50035) from None
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, "Invalid Form Body", 50035)
        if channel_id in self.without_history:
            return json_reply([])
        ids = self.history.get(channel_id, [])
        if before is not None:
            ids = [i for i in ids if i < before]
        if after is not None:
            ids = [i for i in ids if i > after][:limit]  # the ones right after ``after``
        page = list(reversed(ids))[:limit]
        return json_reply([self.served(self.messages[i]) for i in page])
