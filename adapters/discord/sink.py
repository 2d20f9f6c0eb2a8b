"""Shows one answer in a Discord channel or thread (the Discord :class:`ReplySink`).

Posts and edits go through discord.py, which waits on 429s itself; the edit
interval keeps one answer well inside Discord's per-channel edit bucket
(about 5 edits per 5 s), so those waits should not happen at all.

:class:`~dify_bridge.core.Controls` become buttons (a Stop button while the
answer streams, 👍/👎 and suggested questions once it is final); clicks come
back as interactions that :mod:`dify_bridge.adapters.discord.interactions` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging

import aiohttp
import discord

from dify_bridge.adapters.discord.text import (
    DISLIKE_EMOJI,
    LIKE_EMOJI,
    MAX_MESSAGE_LEN,
    button_label,
    feedback_custom_id,
    neutralise_mentions,
    parse_message_key,
    suggestion_custom_id,
)
from dify_bridge.core import (
    ActionKind,
    BoundedDict,
    Controls,
    EditBudget,
    Message,
    MessageKey,
    Rating,
    SinkError,
    SinkLimits,
    notices,
)

log = logging.getLogger(__name__)

TYPING_REFRESH = 8.0
"""Seconds between typing triggers; Discord shows one for about 10 s."""

NO_MENTIONS = discord.AllowedMentions.none()

FAILURES = (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError)
"""What a call to Discord may raise: refusals, and the network failures discord.py
lets through unwrapped (a reset or dropped connection, a timeout)."""


class DiscordSink:
    """One answer in one channel; ``post`` returns ``discord:{channel_id}:{message_id}``."""

    limits = SinkLimits(message_chars=MAX_MESSAGE_LEN, edit_interval=1.2)
    edit_budget: EditBudget | None = None

    def __init__(
        self,
        channel: discord.PartialMessageable,
        *,
        reaction_hints: bool = False,
        typing_refresh: float = TYPING_REFRESH,
        questions: SuggestedQuestions | None = None,
    ) -> None:
        self._channel = channel
        self._questions = questions
        self._reaction_hints = reaction_hints
        self._typing_refresh = typing_refresh
        self._typing: asyncio.Task[None] | None = None
        self.posted: list[str] = []

    def render(self, markdown: str) -> str:
        return neutralise_mentions(markdown)

    async def show_thinking(self) -> None:
        if self._typing is None or self._typing.done():
            self._typing = asyncio.create_task(self._keep_typing(), name="discord-typing")

    async def clear_thinking(self) -> None:
        """Stop the typing indicator; the answer is complete, so add the rating hints."""
        task, self._typing = self._typing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The bridge calls this after the final write, so the last message posted
        # is the last part of the answer: that is where the hints belong.
        if self._reaction_hints and self.posted:
            await self._add_hints(self.posted[-1])

    async def post(self, message: Message) -> str:
        view = controls_view(message.controls)
        self._remember(message.controls)
        try:
            if view is None:
                sent = await self._channel.send(message.text, allowed_mentions=NO_MENTIONS)
            else:
                sent = await self._channel.send(
                    message.text, allowed_mentions=NO_MENTIONS, view=view
                )
        except FAILURES as exc:
            raise SinkError("Discord send", reason_of(exc)) from None
        key = str(MessageKey.discord(self._channel.id, sent.id))
        self.posted.append(key)
        return key

    async def edit(self, message_key: str, message: Message, *, final: bool) -> None:
        _, message_id = parse_message_key(message_key)
        partial = self._channel.get_partial_message(message_id)
        # view=None sends an empty component list: buttons no longer wanted disappear
        self._remember(message.controls)
        try:
            await partial.edit(
                content=message.text,
                allowed_mentions=NO_MENTIONS,
                view=controls_view(message.controls),
            )
        except FAILURES as exc:
            raise SinkError("Discord edit", reason_of(exc)) from None

    async def post_audio(self, name: str, data: bytes, mime_type: str) -> str:
        """The spoken answer as a file in a message of its own, under the text."""
        try:
            sent = await self._channel.send(
                file=discord.File(io.BytesIO(data), filename=name), allowed_mentions=NO_MENTIONS
            )
        except FAILURES as exc:
            raise SinkError("Discord upload", reason_of(exc)) from None
        return str(MessageKey.discord(self._channel.id, sent.id))

    async def post_asked(self, speaker: str, question: str) -> str:
        """Show in the thread who asked which suggested question (no one is pinged)."""
        speaker = discord.utils.escape_markdown(speaker)
        text = self.render(notices.asked_line(speaker, question))[:MAX_MESSAGE_LEN]
        return await self.post(Message(text, (text,)))

    def _remember(self, controls: Controls | None) -> None:
        if self._questions is not None and controls is not None:
            for question in controls.suggestions:
                self._questions.remember(question)

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self._channel.typing()
            except FAILURES as exc:  # cosmetic: the answer goes on without it
                log.debug("typing indicator failed in %s: %s", self._channel.id, exc)
            await asyncio.sleep(self._typing_refresh)

    async def _add_hints(self, key: str) -> None:
        _, message_id = parse_message_key(key)
        partial = self._channel.get_partial_message(message_id)
        try:
            for emoji in (LIKE_EMOJI, DISLIKE_EMOJI):
                await partial.add_reaction(emoji)
        except FAILURES as exc:
            log.info("could not add rating hints to %s: %s", key, exc)


class SuggestedQuestions:
    """Whole suggested questions by button id: a button id holds only the first 85
    characters. Bounded; after a restart a click asks the cut question."""

    def __init__(self, limit: int = 5000) -> None:
        self._by_id = BoundedDict[str, str](limit)

    def remember(self, question: str) -> None:
        self._by_id[suggestion_custom_id(question)] = question

    def whole(self, custom_id: str, cut: str) -> str:
        return self._by_id.get(custom_id) or cut


def controls_view(controls: Controls | None) -> discord.ui.View | None:
    """The buttons of ``controls`` (None when there are none).

    The view is stopped before it is sent: discord.py then keeps no per-message
    state for it (``timeout=None`` views would otherwise pile up for ever), and
    the adapter answers every click from ``on_interaction`` by ``custom_id``.
    """
    if not controls:
        return None
    view = discord.ui.View(timeout=None)
    if controls.stop:
        view.add_item(
            discord.ui.Button(
                label="Stop",
                emoji="⏹️",
                style=discord.ButtonStyle.secondary,
                custom_id=ActionKind.STOP.value,
            )
        )
    if controls.feedback:
        for rating, emoji in ((Rating.LIKE, LIKE_EMOJI), (Rating.DISLIKE, DISLIKE_EMOJI)):
            view.add_item(
                discord.ui.Button(
                    emoji=emoji,
                    style=discord.ButtonStyle.secondary,
                    custom_id=feedback_custom_id(rating),
                )
            )
    seen: set[str] = set()
    for question in controls.suggestions[:20]:  # rows 1-4 hold 5 buttons each
        custom_id = suggestion_custom_id(question)
        if custom_id in seen:  # custom ids must be unique within a message
            continue
        seen.add(custom_id)
        view.add_item(
            discord.ui.Button(
                label=button_label(question),
                style=discord.ButtonStyle.primary,
                custom_id=custom_id,
                row=min(1 + (len(seen) - 1) // 5, 4),
            )
        )
    view.stop()
    return view


def reason_of(exc: BaseException) -> str:
    if not isinstance(exc, discord.HTTPException):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"HTTP {exc.status} ({exc.code})" if exc.code else f"HTTP {exc.status}"


__all__ = [
    "FAILURES",
    "NO_MENTIONS",
    "DiscordSink",
    "SuggestedQuestions",
    "controls_view",
    "reason_of",
]
