"""Platform adapters: each turns platform events into bridge calls and
implements :class:`dify_bridge.models.ReplySink` for its platform."""

from __future__ import annotations

from typing import Protocol


class Adapter(Protocol):
    """A running connection to one platform."""

    name: str

    async def start(self) -> None:
        """Connect and begin taking events; return once ready."""
        ...

    async def stop(self) -> None:
        """Stop taking new events and close connections."""
        ...
