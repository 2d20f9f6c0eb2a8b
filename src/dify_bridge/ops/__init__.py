"""dify_bridge.ops."""

__all__: list[str] = []
