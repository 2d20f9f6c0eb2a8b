"""dify_bridge.dify."""

__all__: list[str] = []
