"""An answer as Slack streaming messages: ``chat.startStream`` / ``appendStream`` / ``stopStream``.

The writer still lays the answer out (a new message before ~4,000 visible
characters) and paces it; this sink is an
:class:`~dify_bridge.core.AppendingSink`, so for a message it opened it gets
only the text added at the end. What it does with each call:

- ``open``: ``chat.startStream`` (always ``thread_ts``; ``recipient_user_id`` +
  ``recipient_team_id`` outside DMs), only if the workspace's start budget has
  a token free now and fewer streams are open than its stop budget can end at
  once. Otherwise, or when Slack refuses the stream
  (``channel_type_not_supported``, ``ratelimited``, ``missing_recipient_*``…),
  None: the writer posts the message and edits it, as without streaming. A
  refusal other than a busy budget turns streaming off for the rest of the answer.
- ``append``: ``chat.appendStream`` with the new Markdown; False once Slack
  says ``message_not_in_streaming_state`` (the writer edits the whole text).
- ``close``: ``chat.stopStream`` with the last piece and the buttons as blocks.
- ``edit`` of a message still streaming: stop it first (``chat.update`` fails
  on a streaming message with ``streaming_state_conflict``), then update it.
- ``show_status``: ``assistant.threads.setStatus``, never text in the stream;
  "is thinking…" from the moment the question is taken until the first words.

Text is Markdown throughout (``markdown_text``, ``markdown`` blocks), also for
messages that fell back to edits, so a message never changes format.
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from dify_bridge.core import Message, MessageKey, SinkLimits, tables_as_code

from .blocks import control_blocks, markdown_blocks
from .budgets import TeamBudgets
from .client import SlackCallFailed, call_slack
from .format import markdown_for_stream
from .sink import MAX_MESSAGE_CHARS, SlackSink

__all__ = ["STREAM_LIMITS", "THINKING_STATUS", "SlackStreamSink"]

log = logging.getLogger(__name__)

STREAM_LIMITS = SinkLimits(message_chars=MAX_MESSAGE_CHARS, block_chars=None, edit_interval=1.0)
THINKING_STATUS = "is thinking…"
NOT_STREAMING = frozenset({"message_not_in_streaming_state", "message_not_found"})


class SlackStreamSink(SlackSink):
    """One answer in a channel thread or an assistant thread, streamed where Slack allows it."""

    limits = STREAM_LIMITS

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        team_id: str,
        channel: str,
        thread_ts: str,
        reply_to_ts: str,
        budgets: TeamBudgets,
        recipient_user_id: str | None,
        assistant_thread: bool = False,
    ) -> None:
        super().__init__(
            client,
            team_id=team_id,
            channel=channel,
            thread_ts=thread_ts,
            reply_to_ts=reply_to_ts,
            edit_budget=budgets.update,
            post_budget=budgets.posts_in(channel),
        )
        self._stream_thread = thread_ts
        self._budgets = budgets
        self._recipient = recipient_user_id
        self._assistant = assistant_thread
        self._streams_off = False
        self._streaming: set[str] = set()
        self._status = ""
        self._status_works = True
        self.streamed = 0
        """Messages of this answer that were started as streams."""

    @property
    def open_streams(self) -> int:
        return len(self._streaming)

    def render(self, markdown: str) -> str:
        return markdown_for_stream(tables_as_code(markdown))

    # ------------------------------------------------------------ thinking / status

    async def show_thinking(self) -> None:
        """ "is thinking…" under the thread (Slack allows it in channel threads with
        ``chat:write``); in a channel, the question also gets the hourglass, which
        people see without opening the thread."""
        await self.show_status(THINKING_STATUS)
        if not self._assistant:
            await super().show_thinking()

    async def clear_thinking(self) -> None:
        await super().clear_thinking()
        if self._status:
            await self.show_status("")

    async def show_status(self, status: str) -> None:
        if not self._status_works or status == self._status:
            return
        self._status = status
        try:
            await call_slack(
                "assistant.threads.setStatus",
                self._client.assistant_threads_setStatus(
                    channel_id=self._channel, thread_ts=self._stream_thread, status=status
                ),
            )
        except SlackCallFailed as exc:
            self._status_works = False  # one line per answer, not one per status
            log.info("no status line in %s: %s", self._channel, exc.error)

    # ------------------------------------------------------------------ streams

    async def open(self, message: Message) -> str | None:
        if self._streams_off or not self._budgets.room_for_a_stream(self):
            return None
        if not self._budgets.start.try_acquire():
            return None
        try:
            data = await call_slack(
                "chat.startStream",
                self._client.chat_startStream(
                    channel=self._channel,
                    thread_ts=self._stream_thread,
                    markdown_text=message.text,
                    recipient_user_id=self._recipient,
                    recipient_team_id=self._team_id if self._recipient else None,
                ),
            )
        except SlackCallFailed as exc:
            if exc.error != "ratelimited":
                self._streams_off = True
            log.info("no streaming message in %s (%s): edits instead", self._channel, exc.error)
            return None
        ts = str(data.get("ts") or "")
        if not ts:
            self._streams_off = True
            return None
        key = str(MessageKey.slack(self._team_id, self._channel, ts))
        self._posted[key] = ts
        self._streaming.add(key)
        self.streamed += 1
        self._status = ""  # Slack clears the status when the app replies
        return key

    async def append(self, message_key: str, text: str) -> bool:
        if message_key not in self._streaming:
            return False
        if not text:
            return True
        await self._budgets.append.acquire()
        try:
            await call_slack(
                "chat.appendStream",
                self._client.chat_appendStream(
                    channel=self._channel, ts=self._ts(message_key), markdown_text=text
                ),
            )
        except SlackCallFailed as exc:
            if exc.error in NOT_STREAMING:
                self._streaming.discard(message_key)
                return False
            raise
        return True

    async def close(self, message_key: str, text: str, message: Message) -> bool:
        if message_key not in self._streaming:
            return False
        blocks = control_blocks(message.controls)
        if not await self._stop(message_key, text, blocks):
            return False
        self._streaming.discard(message_key)
        return True

    async def _stop(self, message_key: str, text: str, blocks: list[dict[str, object]]) -> bool:
        await self._budgets.stop.acquire(final=True)
        try:
            await call_slack(
                "chat.stopStream",
                self._client.chat_stopStream(
                    channel=self._channel,
                    ts=self._ts(message_key),
                    markdown_text=text or None,
                    blocks=blocks or None,
                ),
            )
        except SlackCallFailed as exc:
            if exc.error in NOT_STREAMING:
                self._streaming.discard(message_key)
                return False
            raise
        return True

    # ------------------------------------------------------- posts and edits

    async def post(self, message: Message) -> str:
        """A message that is not streamed: Markdown in a ``markdown`` block."""
        key = await self._post(message, markdown_blocks(message))
        self._status = ""  # Slack clears the status when the app replies
        return key

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        """Replace the whole text; a message still streaming is stopped first."""
        if message_key in self._streaming:
            await self._stop(message_key, "", [])
            self._streaming.discard(message_key)
        try:
            await call_slack(
                "chat.update",
                self._client.chat_update(
                    channel=self._channel,
                    ts=self._ts(message_key),
                    text=message.text,
                    blocks=markdown_blocks(message),
                ),
            )
        except SlackCallFailed as exc:
            level = logging.ERROR if final else logging.WARNING
            log.log(level, "could not edit a message in %s: %s", self._channel, exc.error)
            raise

    def _ts(self, message_key: str) -> str:
        return self._posted.get(message_key) or MessageKey.parse(message_key).parts[-1]
