"""One step of a loop that must keep going (a heartbeat, a shard keeper).

The failures a step expects are its own to handle; anything else is a bug,
and a loop that stopped on it would leave the replica looking dead to the
others while it still answers. The step is logged with its traceback and
the loop goes on to its next round.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["loop_step"]

log = logging.getLogger(__name__)

T = TypeVar("T")


async def loop_step(step: Callable[[], Awaitable[T]], what: str) -> T | None:
    """``step()``'s result; None when it failed with a bug (logged as ``what``)."""
    try:
        return await step()
    except Exception:  # the boundary of every loop that must keep going
        log.exception("%s failed; the next round tries again", what)
        return None
