"""Small bounded memories for what a process may forget (the store remembers the rest)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["BoundedDict", "BoundedSet"]

T = TypeVar("T", bound=Hashable)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_SIZE = 10_000


class BoundedSet(Generic[T]):
    """A set that forgets its oldest entries beyond ``size`` (instead of clearing at once)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._items: OrderedDict[T, None] = OrderedDict()
        self._size = size

    def add(self, item: T) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class BoundedDict(Generic[K, V]):
    """A dict that forgets its least recently stored entries beyond ``size``.

    Like :class:`BoundedSet`: the oldest entries go one by one, never the
    whole memory at once.
    """

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._size = size

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def setdefault(self, key: K, value: V) -> V:
        found = self._items.get(key)
        if found is not None:
            return found
        self[key] = value
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
