"""`OwnerQuota`: entries grouped by owner (an agent), bounded per owner and in total.

The embedded gateway's stores that anyone may fill (idempotency keys, the token
registry) keep their entries here so that one agent can never evict another's: an
owner over its own cap loses its own oldest entries, and over the total cap the owner
holding the most loses its oldest first. Entries are counted and sized (bytes, as
the caller estimates them). Not thread-safe: the store using it holds its own lock.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Slot(Generic[V]):
    owner: str
    value: V
    size: int


@dataclass
class _Owner:
    keys: OrderedDict[Any, None]
    size: int = 0


class OwnerQuota(Generic[K, V]):
    """A map of unique keys to values, each value owned by one owner, oldest first."""

    def __init__(
        self,
        *,
        per_owner: int,
        total: int,
        per_owner_size: float = math.inf,
        total_size: float = math.inf,
    ) -> None:
        self._per_owner, self._total = per_owner, total
        self._per_owner_size, self._total_size = per_owner_size, total_size
        self._slots: OrderedDict[K, _Slot[V]] = OrderedDict()
        self._owners: dict[str, _Owner] = {}
        self._size = 0

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def size(self) -> int:
        return self._size

    def get(self, key: K) -> V | None:
        slot = self._slots.get(key)
        return None if slot is None else slot.value

    def owner_count(self, owner: str) -> int:
        found = self._owners.get(owner)
        return 0 if found is None else len(found.keys)

    def put(self, owner: str, key: K, value: V, size: int = 0) -> None:
        """Add (or replace in place) `key`, then evict down to the caps, never `key` itself."""
        slot = self._slots.get(key)
        if slot is not None and slot.owner != owner:
            self.pop(key)
            slot = None
        bucket = self._owners.setdefault(owner, _Owner(OrderedDict()))
        if slot is None:
            self._slots[key] = _Slot(owner, value, size)
            bucket.keys[key] = None
        else:
            bucket.size -= slot.size
            self._size -= slot.size
            slot.value, slot.size = value, size
        bucket.size += size
        self._size += size
        self._enforce(owner, key)

    def pop(self, key: K) -> V | None:
        slot = self._slots.pop(key, None)
        if slot is None:
            return None
        bucket = self._owners[slot.owner]
        del bucket.keys[key]
        bucket.size -= slot.size
        self._size -= slot.size
        if not bucket.keys:
            del self._owners[slot.owner]
        return slot.value

    def drop_oldest_while(self, stale: Callable[[V], bool]) -> None:
        """Drop entries from the oldest on, as long as `stale` says so (expiry by age)."""
        while self._slots:
            key, slot = next(iter(self._slots.items()))
            if not stale(slot.value):
                return
            self.pop(key)

    def drop_where(self, stale: Callable[[V], bool]) -> None:
        """Drop every entry `stale` says so of (expiry not in insertion order); O(n)."""
        for key in [key for key, slot in self._slots.items() if stale(slot.value)]:
            self.pop(key)

    def clear(self) -> None:
        self._slots.clear()
        self._owners.clear()
        self._size = 0

    def _enforce(self, owner: str, keep: K) -> None:
        bucket = self._owners[owner]
        while len(bucket.keys) > self._per_owner or bucket.size > self._per_owner_size:
            if not self._evict_oldest_of(owner, keep):
                break
        while len(self._slots) > self._total or self._size > self._total_size:
            by_size = self._size > self._total_size

            def weight(name: str, by_size: bool = by_size) -> int:
                held = self._owners[name]
                return held.size if by_size else len(held.keys)

            if self._evict_oldest_of(max(self._owners, key=weight), keep):
                continue
            # the heaviest holds only `keep`: the next heaviest that holds something else
            heaviest_first = sorted(self._owners, key=weight, reverse=True)
            if not any(self._evict_oldest_of(name, keep) for name in heaviest_first):
                break

    def _evict_oldest_of(self, owner: str, keep: K) -> bool:
        for key in self._owners[owner].keys:
            if key != keep:
                self.pop(key)
                return True
        return False
