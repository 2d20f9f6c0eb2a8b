"""Where one answer appears in Slack: posts and edits in the user's thread.

A sink is made per answer. It performs the calls only; the writer lays the
answer out over :data:`LIMITS` and paces edits with the workspace's shared
:class:`~dify_bridge.core.EditBudget`.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.core import EditBudget, Message, MessageKey, SinkLimits, tables_as_code

from .blocks import SECTION_MAX_CHARS, answer_blocks
from .client import SlackCallFailed, SlackMessageTooLong, call_slack
from .format import markdown_to_mrkdwn

__all__ = ["MAX_MESSAGE_CHARS", "SPOKEN_ANSWER_TITLE", "THINKING_REACTION", "SlackSink"]

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 3800
"""mrkdwn characters per message: below the ~4,000 at which chat.update says msg_too_long."""
LIMITS = SinkLimits(
    message_chars=MAX_MESSAGE_CHARS, block_chars=SECTION_MAX_CHARS, edit_interval=1.0
)

THINKING_REACTION = "hourglass_flowing_sand"
SPOKEN_ANSWER_TITLE = "Spoken answer"


class SlackSink:
    """Posts and edits one answer in ``channel`` (under ``thread_ts``, if set)."""

    limits = LIMITS

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        team_id: str,
        channel: str,
        thread_ts: str | None,
        reply_to_ts: str,
        edit_budget: EditBudget | None,
        post_budget: EditBudget | None = None,
    ) -> None:
        self.edit_budget = edit_budget
        self._post_budget = post_budget
        self._client = client
        self._team_id = team_id
        self._channel = channel
        self._thread_ts = thread_ts
        self._reply_to_ts = reply_to_ts
        self._posted: dict[str, str] = {}
        self._thinking = False

    def render(self, markdown: str) -> str:
        return markdown_to_mrkdwn(tables_as_code(markdown))

    async def show_thinking(self) -> None:
        """Put an hourglass on the user's message until the answer is done."""
        try:
            await call_slack(
                "reactions.add",
                self._client.reactions_add(
                    channel=self._channel, timestamp=self._reply_to_ts, name=THINKING_REACTION
                ),
            )
        except SlackCallFailed as exc:
            if exc.error != "already_reacted":
                log.info("no thinking indicator in %s: %s", self._channel, exc.error)
                return
        self._thinking = True

    async def clear_thinking(self) -> None:
        if not self._thinking:
            return
        self._thinking = False
        try:
            await call_slack(
                "reactions.remove",
                self._client.reactions_remove(
                    channel=self._channel, timestamp=self._reply_to_ts, name=THINKING_REACTION
                ),
            )
        except SlackCallFailed as exc:
            if exc.error not in ("no_reaction", "message_not_found"):
                log.info("could not remove the thinking indicator in %s: %s", self._channel, exc)

    async def post(self, message: Message) -> str:
        """Post ``message`` in the thread, with the answer buttons its controls ask for."""
        return await self._post(message, answer_blocks(message) if message.controls else None)

    async def _post(self, message: Message, blocks: list[dict[str, Any]] | None) -> str:
        """``chat.postMessage`` in the thread; the new message's key."""
        if self._post_budget is not None:
            await self._post_budget.acquire()
        try:
            data = await call_slack(
                "chat.postMessage",
                self._client.chat_postMessage(
                    channel=self._channel,
                    thread_ts=self._thread_ts,
                    text=message.text,
                    blocks=blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
        except SlackCallFailed as exc:
            log.error("could not post in %s: %s", self._channel, exc.error)
            raise
        ts = str(data.get("ts") or "")
        if not ts:
            raise SlackCallFailed("chat.postMessage", "no ts in the response")
        key = str(MessageKey.slack(self._team_id, self._channel, ts))
        self._posted[key] = ts
        return key

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        """Replace the message; no controls take any buttons off."""
        ts = self._posted.get(message_key) or MessageKey.parse(message_key).parts[-1]
        text = message.text
        # blocks=[] clears buttons an earlier version of the message had
        blocks = answer_blocks(message) if message.controls else []
        try:
            await call_slack(
                "chat.update",
                self._client.chat_update(channel=self._channel, ts=ts, text=text, blocks=blocks),
            )
        except SlackMessageTooLong:
            log.error(
                "Slack refused a %d-character edit in %s as too long", len(text), self._channel
            )
            raise
        except SlackCallFailed as exc:
            level = logging.ERROR if final else logging.WARNING
            log.log(level, "could not edit a message in %s: %s", self._channel, exc.error)
            raise

    async def post_audio(self, name: str, data: bytes, mime_type: str) -> str:
        """The spoken answer as a file shared in the thread, under the text.

        Slack gives no message ts for an uploaded file, so the key names the file.
        """
        uploaded = await call_slack(
            "files.upload_v2",
            self._client.files_upload_v2(
                channel=self._channel,
                thread_ts=self._thread_ts,
                content=data,
                filename=name,
                title=SPOKEN_ANSWER_TITLE,
            ),
        )
        file_id = str((uploaded.get("file") or {}).get("id") or "")
        return str(MessageKey.slack_file(self._team_id, self._channel, file_id))
