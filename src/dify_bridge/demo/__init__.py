"""Offline demo support: a local fake of the Dify Service API."""

__all__: list[str] = []
