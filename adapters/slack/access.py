"""``SLACK_ALLOWED_CHANNELS`` / ``SLACK_ALLOWED_USERS``: one policy, checked first.

A DM channel counts as a channel: listing ``D…`` ids allows those DMs.
Nothing refused here reaches the bridge.
"""

from __future__ import annotations

import logging

from dify_bridge.config import SlackSettings
from dify_bridge.core import AccessPolicy

__all__ = ["SlackAccess"]

log = logging.getLogger(__name__)


class SlackAccess:
    """Whether a person in a channel may talk to the bot."""

    def __init__(self, settings: SlackSettings) -> None:
        self._policy = AccessPolicy(places=settings.allowed_channels, people=settings.allowed_users)

    def allows(self, channel: str, user: str) -> bool:
        if self._policy.allows(places=(channel,), person=user):
            return True
        log.debug(
            "ignoring user %s in %s: not in SLACK_ALLOWED_CHANNELS / SLACK_ALLOWED_USERS",
            user,
            channel,
        )
        return False
