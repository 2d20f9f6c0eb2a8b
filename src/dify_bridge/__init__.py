"""dify-bridge: a Dify chat app in Slack threads and Discord channels."""

__version__ = "0.1.0"
