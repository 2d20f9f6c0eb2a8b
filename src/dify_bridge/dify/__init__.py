"""dify_bridge.dify."""
