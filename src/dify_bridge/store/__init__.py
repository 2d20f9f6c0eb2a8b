"""Where threads, answers and processed events are remembered.

:class:`Store` (in :mod:`.base`) is the interface the bridge uses;
:func:`open_store` picks the backend from ``DATABASE_URL``. Both backends
create the one schema of :mod:`.schema`.
"""

from __future__ import annotations

from dify_bridge.errors import ConfigError
from dify_bridge.store.base import EVENT_TTL_SECONDS, Store, redact_url
from dify_bridge.store.shards import ShardClaims
from dify_bridge.store.sqlite import SqliteStore

__all__ = ["EVENT_TTL_SECONDS", "ShardClaims", "Store", "open_store", "redact_url"]


async def open_store(database_url: str) -> Store:
    """Open (and migrate) the store that ``database_url`` names."""
    if database_url.startswith("sqlite:///"):
        return await SqliteStore.open(database_url.removeprefix("sqlite:///"))
    if database_url.startswith(("postgresql://", "postgres://")):
        try:
            # asyncpg is an optional dependency: imported only when asked for
            from dify_bridge.store.postgres import PostgresStore
        except ImportError:
            raise ConfigError(
                "DATABASE_URL", "PostgreSQL needs asyncpg: pip install 'dify-bridge[postgres]'"
            ) from None
        return await PostgresStore.open(database_url)
    raise ConfigError("DATABASE_URL", f"unsupported database {database_url.split(':', 1)[0]!r}")
