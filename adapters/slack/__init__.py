"""The Slack adapter: :class:`~dify_bridge.adapters.slack.app.SlackAdapter` and its parts.

It translates only: Slack payloads into the core's values
(:mod:`dify_bridge.core`), the core's Markdown into mrkdwn, and Slack's
failures into :class:`~dify_bridge.adapters.slack.client.SlackCallFailed`.
"""

from .app import SlackAdapter, SlackStartFailed

__all__ = ["SlackAdapter", "SlackStartFailed"]
