"""Looking at a store without changing it, for ``dify-bridge check``.

:func:`probe_store` never creates a file, a side file, a table or a row: a
SQLite file that does not exist yet is reported as one that will be created
(its folder is checked), an existing one is opened read-only, and a
PostgreSQL database is asked for its schema version without migrating it.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from dify_bridge.errors import ConfigError, StoreError
from dify_bridge.store.base import redact_url
from dify_bridge.store.schema import SCHEMA_VERSION

__all__ = ["StoreProbe", "probe_store"]


@dataclass(frozen=True)
class StoreProbe:
    """What ``dify-bridge run`` would find: where the store is, and its schema version."""

    where: str
    """The database, password redacted (a SQLite file as an absolute path)."""
    version: int | None
    """The schema version found (0: no tables yet); None: no file yet."""

    def describe(self) -> str:
        if self.version is None:
            return f"will be created at {self.where}"
        if self.version == 0:
            return f"{self.where} (empty; the tables are created at start)"
        if self.version < SCHEMA_VERSION:
            return f"{self.where} (schema v{self.version}; upgraded to v{SCHEMA_VERSION} at start)"
        if self.version > SCHEMA_VERSION:
            newer = f"newer than this release's v{SCHEMA_VERSION}"
            return f"{self.where} (schema v{self.version}, {newer})"
        return f"{self.where} (schema v{self.version})"


async def probe_store(database_url: str) -> StoreProbe:
    """Raise :class:`StoreError` (or :class:`ConfigError`) for a store ``run`` could not use."""
    if database_url.startswith("sqlite:///"):
        return _probe_sqlite(database_url.removeprefix("sqlite:///"))
    if database_url.startswith(("postgresql://", "postgres://")):
        return await _probe_postgres(database_url)
    raise ConfigError("DATABASE_URL", f"unsupported database {database_url.split(':', 1)[0]!r}")


def _probe_sqlite(path_text: str) -> StoreProbe:
    if path_text == ":memory:":
        return StoreProbe(":memory:", SCHEMA_VERSION)
    path = Path(path_text)
    folder = path.parent
    if not folder.is_dir():
        raise StoreError(f"the database folder {folder} does not exist (DATABASE_URL)")
    # the file and its -wal/-shm side files are written in this folder
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"no permission to write in the database folder {folder} (DATABASE_URL)")
    where = str(path.resolve())
    if not path.exists():
        return StoreProbe(where, None)
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"no permission to read and write the database {where} (DATABASE_URL)")
    return StoreProbe(where, _sqlite_version(path))


def _sqlite_version(path: Path) -> int:
    # A read-only connection to a WAL database creates -wal and -shm files when they are
    # missing (and leaves them); "immutable" reads the file alone and creates nothing. That
    # is exact when there is no -wal file (no writes pending); with one (the bridge is
    # running, or crashed), read-only mode reads through it.
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "immutable=1"
    uri = f"file:{quote(str(path.resolve()))}?{mode}"
    try:
        db = sqlite3.connect(uri, uri=True)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            row = (
                db.execute("SELECT max(version) FROM schema_version").fetchone()
                if "schema_version" in tables
                else None
            )
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the database {path}: {exc}") from None
    return int(row[0] or 0) if row else 0


async def _probe_postgres(url: str) -> StoreProbe:
    where = redact_url(url)
    try:
        # asyncpg is an optional dependency: imported only when asked for
        import asyncpg
    except ImportError:
        raise ConfigError(
            "DATABASE_URL", "PostgreSQL needs asyncpg: pip install 'dify-bridge[postgres]'"
        ) from None
    from dify_bridge.store.pg_locks import ERRORS, one_line

    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (*ERRORS, ValueError) as exc:
        raise StoreError(f"cannot connect to the database {where}: {one_line(exc)}") from None
    try:
        if await conn.fetchval("SELECT to_regclass('schema_version')") is None:
            return StoreProbe(where, 0)
        version = await conn.fetchval("SELECT max(version) FROM schema_version")
    except ERRORS as exc:
        raise StoreError(f"cannot read the database {where}: {one_line(exc)}") from None
    finally:
        await conn.close()
    return StoreProbe(where, int(version or 0))
