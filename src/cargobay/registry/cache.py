"""A per-process cache of manifest lookups, invalidated by a shared generation number.

Every metadata write bumps the generation; a reader that sees a generation different from the
one its entries were filled under drops them all, so reading the generation must be cheap:

- `FileGeneration`: a memory-mapped file in the data directory, for the processes of one
  host (SQLite metadata). A read is a memory read, with no system call.
- `RedisGeneration`: for several nodes sharing PostgreSQL. Bumps go through Redis (INCR and
  PUBLISH); each process follows them on a subscriber thread, so a read is an attribute read.
  While the subscription is down the generation changes on every read: nothing is cached.
"""

from __future__ import annotations

import itertools
import logging
import mmap
import os
import struct
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    import redis

logger = logging.getLogger("cargobay.cache")

_FORMAT = struct.Struct("<Q")

K = TypeVar("K")
V = TypeVar("V")


class Generation(Protocol):
    def current(self) -> int: ...

    def bump(self) -> None: ...


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


class RedisGeneration:
    def __init__(self, url: str, name: str = "cache") -> None:
        import redis  # only nodes configured for Redis pay for the client library

        # One key and channel per generation: the key holds the value, the channel tells.
        self.key = self.channel = f"cargobay:{name}-generation"
        self._errors = (redis.RedisError, OSError, ValueError)
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5
        )
        self._value = 0
        self._subscribed = threading.Event()
        self._unsubscribed_values = itertools.count(-1, -1)
        self._thread = threading.Thread(target=self._follow, name="cache-generation", daemon=True)
        self._thread.start()
        self._subscribed.wait(5)

    def current(self) -> int:
        if not self._subscribed.is_set():
            return next(self._unsubscribed_values)  # never equal twice: no cache hits
        return self._value

    def bump(self) -> None:
        value = self._client.incr(self.key)
        self._client.publish(self.channel, value)
        self._value = value  # our own next read must not wait for the message

    def _follow(self) -> None:
        while True:
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                # Bumps made while we were not listening: start from the stored value.
                self._value = int(self._client.get(self.key) or 0) or time.time_ns()
                self._subscribed.set()
                for message in pubsub.listen():
                    self._value = int(message["data"])
            except self._errors as exc:
                self._subscribed.clear()
                logger.warning("cache invalidation channel lost (%s); caching paused", exc)
                time.sleep(1)


class GenerationCache(Generic[K, V]):
    """A bounded map (oldest out first) whose entries all die when the generation moves."""

    def __init__(self, generation: Generation | None, max_entries: int = 20_000) -> None:
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
