"""Discord: discord.py's gateway and REST, answers through the bridge facade."""

from .adapter import PRIVILEGED_INTENTS_HELP, DiscordAdapter, DiscordUnavailable

__all__ = ["PRIVILEGED_INTENTS_HELP", "DiscordAdapter", "DiscordUnavailable"]
