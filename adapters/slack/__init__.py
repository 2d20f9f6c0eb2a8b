"""Slack: slack-bolt in Socket Mode or HTTP mode, answers through the bridge facade."""

from .app import SlackAdapter, SlackStartFailed

__all__ = ["SlackAdapter", "SlackStartFailed"]
