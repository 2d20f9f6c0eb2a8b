"""dify_bridge.ops."""
