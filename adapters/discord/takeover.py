"""Marking an answer another replica left unfinished when it died (Discord).

The survivor reads the answer's last message and edits it the way a live
answer ends when interrupted: the text so far with the notice line under it,
and ``view=None`` (no components), which takes the Stop button off. An answer
that had posted nothing yet gets the notice as a new message in its channel.
The typing indicator ends by itself.
"""

from __future__ import annotations

import discord

from dify_bridge.adapters.discord.sink import FAILURES, NO_MENTIONS, reason_of
from dify_bridge.adapters.discord.text import MAX_MESSAGE_LEN, parse_message_key
from dify_bridge.core import LeftAnswer, SinkError, ThreadKey

__all__ = ["mark_left_answer"]


async def mark_left_answer(client: discord.Client, answer: LeftAnswer, notice: str) -> None:
    """Raises only :class:`SinkError`."""
    line = f"⚠️ {notice}"
    try:
        if not answer.message_keys:
            channel_id = int(ThreadKey.parse(answer.thread_key).parts[-1])
            await client.get_partial_messageable(channel_id).send(
                line, allowed_mentions=NO_MENTIONS
            )
            return
        channel_id, message_id = parse_message_key(answer.message_keys[-1])
        message = await client.get_partial_messageable(channel_id).fetch_message(message_id)
        text = f"{message.content}\n\n{line}" if message.content.strip() else line
        if len(text) > MAX_MESSAGE_LEN:
            text = message.content[: MAX_MESSAGE_LEN - len(line) - 3] + "…\n\n" + line
        await message.edit(content=text, view=None, allowed_mentions=NO_MENTIONS)
    except FAILURES as exc:
        raise SinkError("Discord edit", reason_of(exc)) from None
    except ValueError as exc:  # a key this release does not write
        raise SinkError("Discord edit", str(exc)) from None
