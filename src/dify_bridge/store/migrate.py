"""Copying threads and answers from one store to another (``dify-bridge migrate``).

The usual trip is SQLite → PostgreSQL when a deployment grows to several
replicas; the way back works the same. Records the target already has are
kept as they are, so running the copy again changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from dify_bridge.errors import ConfigError, StoreError
from dify_bridge.store import open_store
from dify_bridge.store.base import Store
from dify_bridge.store.records import MessageRecord, ThreadRecord

__all__ = ["CopyReport", "copy_store"]

BATCH = 500

T = TypeVar("T")


@runtime_checkable
class Portable(Protocol):
    """A store whose records can be read out in bulk and loaded in bulk."""

    def dump_threads(self) -> AsyncIterator[ThreadRecord]: ...

    def dump_messages(self) -> AsyncIterator[MessageRecord]: ...

    async def load(
        self, threads: Sequence[ThreadRecord], messages: Sequence[MessageRecord]
    ) -> tuple[int, int]: ...


@dataclass
class CopyReport:
    threads: int = 0
    new_threads: int = 0
    messages: int = 0
    new_messages: int = 0

    def line(self) -> str:
        return (
            f"copied {self.new_threads} of {self.threads} threads and "
            f"{self.new_messages} of {self.messages} answer messages "
            "(the rest were already there)"
        )


async def copy_store(source_url: str, target_url: str) -> CopyReport:
    """Copy every thread mapping and answer message from ``source_url`` to ``target_url``."""
    if source_url == target_url:
        raise ConfigError("--to", "is the same database as --from")
    _require_source_file(source_url)
    source = await open_store(source_url)
    try:
        target = await open_store(target_url)
        try:
            return await _copy(_portable(source), _portable(target))
        finally:
            await target.close()
    finally:
        await source.close()


async def _copy(source: Portable, target: Portable) -> CopyReport:
    report = CopyReport()
    async for threads in _batches(source.dump_threads()):
        added, _ = await target.load(threads, [])
        report.threads += len(threads)
        report.new_threads += added
    async for messages in _batches(source.dump_messages()):
        _, added = await target.load([], messages)
        report.messages += len(messages)
        report.new_messages += added
    return report


def _require_source_file(url: str) -> None:
    """Opening a missing SQLite file would create it: an empty source is a typo."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise StoreError(f"the database {path} to copy from does not exist (--from)")


def _portable(store: Store) -> Portable:
    if not isinstance(store, Portable):
        raise StoreError(f"{store!r} cannot be copied")
    return store


async def _batches(records: AsyncIterator[T]) -> AsyncIterator[list[T]]:
    batch: list[T] = []
    async for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
