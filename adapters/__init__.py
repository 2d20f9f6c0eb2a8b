"""Platform adapters: each turns platform events into calls on the bridge facade
(:mod:`dify_bridge.core`) and implements its ``ReplySink`` for the platform."""

__all__: list[str] = []
