"""dify_bridge.core."""
