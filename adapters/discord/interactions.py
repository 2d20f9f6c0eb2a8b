"""Clicks on the buttons under answers: Stop, 👍/👎 and suggested questions.

A click is acknowledged at once (a deferred update: Discord shows a failure
after 3 s) and then handled by its ``custom_id``, which is the same as in every
earlier release (``dify_stop``, ``dify_feedback:like|dislike``,
``dify_suggested:<question prefix>``), so buttons under old answers keep working.
A suggested question is asked once per person and button: a second click by
the same person is ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import discord

from dify_bridge.adapters.discord.messages import Asker
from dify_bridge.adapters.discord.places import Conversation, Places
from dify_bridge.adapters.discord.text import interaction_event_key, parse_custom_id
from dify_bridge.core import ActionKind, Bridge, MessageKey, Rating, Reaction, SinkError

__all__ = ["ButtonHandler"]

log = logging.getLogger(__name__)


class ButtonHandler:
    def __init__(
        self, client: Callable[[], discord.Client], bridge: Bridge, places: Places, asker: Asker
    ) -> None:
        self._client = client
        self._bridge = bridge
        self._places = places
        self._asker = asker

    async def handle(self, interaction: discord.Interaction) -> None:
        data: Mapping[str, object] = interaction.data or {}
        custom_id = str(data.get("custom_id", ""))
        action = parse_custom_id(custom_id)
        if action is None or interaction.message is None or interaction.channel_id is None:
            # not one of the bridge's buttons (or a forged value): acknowledged, ignored
            log.info(
                "ignoring a click on component %r in channel %s",
                custom_id[:100],
                interaction.channel_id,
            )
            await interaction.response.defer()
            return
        # acknowledged before anything else: Discord shows a failure after 3 s
        await interaction.response.defer()
        conversation = await self._places.conversation_of(interaction)
        if conversation is None:
            return
        kind, argument = action
        key = MessageKey.discord(interaction.channel_id, interaction.message.id)
        if kind is ActionKind.STOP:
            await self._bridge.stop_answer(message_key=str(key))
        elif kind is ActionKind.FEEDBACK:
            reaction = Reaction(str(key), Rating(argument), str(interaction.user.id))
            await self._bridge.handle_reaction(reaction)
        else:
            await self._ask(interaction, conversation, key, custom_id, argument)

    async def _ask(
        self,
        interaction: discord.Interaction,
        conversation: Conversation,
        key: MessageKey,
        custom_id: str,
        cut: str,
    ) -> None:
        """Show who asked which suggested question in the thread, then answer it.

        The click is claimed by the button's own value (the question as its
        ``custom_id`` holds it), which every replica and restart reads the same.
        """
        user = interaction.user
        if not await self._bridge.claim_click(str(key), cut, str(user.id)):
            log.info("suggestion already asked by %s in %s; click ignored", user.id, key)
            return
        question = self._asker.questions.whole(custom_id, cut)
        sink = self._asker.sink(conversation)
        try:
            await sink.post_asked(user.display_name, question)
        except SinkError as exc:
            log.warning("suggested question not asked in %s: %s", conversation.key, exc)
            return
        incoming = conversation.incoming(
            text=question, author=user, event=interaction_event_key(interaction.id)
        )
        await self._asker.ask(conversation, incoming)
