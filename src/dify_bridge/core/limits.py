"""How many questions one person, or one channel, may ask a minute.

Off unless ``QUESTIONS_PER_USER_PER_MINUTE`` / ``QUESTIONS_PER_CHANNEL_PER_MINUTE``
are set. Over a limit the bridge answers with one polite line and sends
nothing to Dify. The count is over the last 60 seconds (a sliding window) and
only questions that went through count, so someone who waits gets answered.

Per process: with several replicas each one counts its own share, so the
effective limit is up to the number of replicas times the setting.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from dify_bridge.core.types import Incoming

__all__ = ["QuestionLimits", "Refusal"]

WINDOW_SECONDS = 60.0
_SWEEP_EVERY = 1024


@dataclass(frozen=True)
class Refusal:
    limit: str
    """``user`` or ``channel``: which limit the question is over."""


class _Window:
    """Times of the questions let through for each key, within the window."""

    def __init__(self, per_window: int) -> None:
        self.per_window = per_window
        self._times: dict[str, deque[float]] = {}

    def full(self, key: str, now: float) -> bool:
        times = self._times.get(key)
        if times is None:
            return False
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        if not times:
            del self._times[key]  # a key that went quiet takes no memory
            return False
        return len(times) >= self.per_window

    def record(self, key: str, now: float) -> None:
        self._times.setdefault(key, deque()).append(now)

    def sweep(self, now: float) -> None:
        """Forget every key with nothing left in the window."""
        for key in [k for k, times in self._times.items() if times[-1] <= now - WINDOW_SECONDS]:
            del self._times[key]


class QuestionLimits:
    def __init__(
        self,
        *,
        per_user: int = 0,
        per_channel: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._admitted = 0
        self._windows: list[tuple[str, _Window]] = [
            (limit, _Window(count))
            for limit, count in (("user", per_user), ("channel", per_channel))
            if count > 0
        ]

    def admit(self, incoming: Incoming) -> Refusal | None:
        """None, and the question counted; or which limit it is over (nothing counted)."""
        if not self._windows:
            return None
        now = self._clock()
        keys = {
            "user": f"{incoming.platform}:{incoming.user_id}",
            "channel": f"{incoming.platform}:{incoming.channel_id or incoming.thread_key}",
        }
        for limit, window in self._windows:
            if window.full(keys[limit], now):
                return Refusal(limit)
        self._admitted += 1
        for limit, window in self._windows:
            window.record(keys[limit], now)
            if self._admitted % _SWEEP_EVERY == 0:
                window.sweep(now)
        return None
