"""The Discord adapter: :class:`~dify_bridge.adapters.discord.adapter.DiscordAdapter` and its parts.

It translates only: gateway events and interactions into the core's values
(:mod:`dify_bridge.core`), answers into messages, Discord's failures into
:class:`~dify_bridge.core.SinkError`.
"""

from .adapter import PRIVILEGED_INTENTS_HELP, DiscordAdapter, DiscordUnavailable

__all__ = ["PRIVILEGED_INTENTS_HELP", "DiscordAdapter", "DiscordUnavailable"]
