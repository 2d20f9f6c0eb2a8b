"""The Discord adapter: see :mod:`dify_bridge.adapters.discord.adapter`."""

__all__: list[str] = []
