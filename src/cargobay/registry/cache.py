"""A per-process cache of manifest lookups, invalidated by a shared generation number.

Every metadata write bumps the generation; a reader that sees a generation different from the
one its entries were filled under drops them all. The number lives in a memory-mapped file in
the data directory, so all worker processes on the host see a bump at the cost of a memory
read, with no system call on the hot path. Several hosts do not share that file, so the cache
is only switched on when they cannot exist (SQLite); see `for_database`.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections import OrderedDict
from pathlib import Path
from typing import Generic, TypeVar

_FORMAT = struct.Struct("<Q")

K = TypeVar("K")
V = TypeVar("V")


class FileGeneration:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size < _FORMAT.size:
                os.ftruncate(fd, _FORMAT.size)
            self._map = mmap.mmap(fd, _FORMAT.size)
        finally:
            os.close(fd)

    def current(self) -> int:
        return _FORMAT.unpack_from(self._map, 0)[0]

    def bump(self) -> None:
        # Any change of value invalidates; a clock keeps values distinct across restarts.
        _FORMAT.pack_into(self._map, 0, max(self.current() + 1, time.time_ns()))


class GenerationCache(Generic[K, V]):
    """A bounded LRU map whose entries all die when the generation moves."""

    def __init__(self, generation: FileGeneration | None, max_entries: int = 20_000) -> None:
        self._generation = generation
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._filled_under = generation.current() if generation else 0
        self._max_entries = max_entries

    @property
    def enabled(self) -> bool:
        return self._generation is not None

    def snapshot(self) -> int:
        """The generation to pass to `put` for a value about to be read from the database."""
        return self._generation.current() if self._generation else 0

    def get(self, key: K) -> V | None:
        if self._generation is None:
            return None
        now = self._generation.current()
        if now != self._filled_under:
            self._entries.clear()
            self._filled_under = now
            return None
        return self._entries.get(key)

    def put(self, key: K, value: V, snapshot: int) -> None:
        if self._generation is None or snapshot != self._generation.current():
            return  # written meanwhile: the value may already be stale
        if snapshot != self._filled_under:
            self._entries.clear()
            self._filled_under = snapshot
        self._entries[key] = value
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def invalidate(self) -> None:
        if self._generation is not None:
            self._generation.bump()
