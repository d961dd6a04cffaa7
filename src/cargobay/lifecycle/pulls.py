"""Pull counts per artifact, kept off the request path.

Each node counts the `manifest.pulled` events it emits in memory, by (repository, digest),
and adds them to the database in one batch every few seconds and at shutdown (`flush`).
The batch adds increments and keeps the later last-pull time, so nodes never overwrite one
another. A failed flush puts its counts back to be retried with the next one; a node that
dies loses at most the pulls since its last flush.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from cargobay.events import Dispatcher, Event, EventType
from cargobay.metadata.pulls import PullTally, add_pulls
from cargobay.metadata.runner import Runner
from cargobay.metadata.store import MetadataStore

logger = logging.getLogger("cargobay.lifecycle.pulls")

#: Keys held at most between flushes: beyond it new keys are dropped (and logged) rather
#: than let a database outage grow memory without bound.
MAX_PENDING = 100_000


class PullCounter:
    def __init__(self, store: MetadataStore, db: Runner) -> None:
        self.store = store
        self.db = db
        self._pending: dict[tuple[str, str], PullTally] = {}
        self._dropped = 0

    def subscribe(self, events: Dispatcher) -> None:
        events.subscribe(self.observe)

    def observe(self, event: Event) -> None:
        """The dispatcher's subscriber: a dictionary update, nothing more."""
        if event.type is EventType.MANIFEST_PULLED and event.digest:
            self.count(event.repository, event.digest, event.timestamp)

    def count(self, repository: str, digest: str, at: datetime, pulls: int = 1) -> None:
        key = (repository, digest)
        tally = self._pending.get(key)
        if tally is None:
            if len(self._pending) >= MAX_PENDING:
                self._dropped += pulls
                return
            self._pending[key] = PullTally(pulls, at)
        else:
            self._pending[key] = PullTally(tally.count + pulls, max(tally.last, at))

    @property
    def pending(self) -> int:
        return sum(tally.count for tally in self._pending.values())

    async def flush(self) -> int:
        """Write the counted pulls; return how many. On failure they are kept for the next
        flush, and the error is raised."""
        if self._dropped:
            logger.warning("%d pulls were not counted: too many pending", self._dropped)
            self._dropped = 0
        batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            await self.db.write(self._write, batch)
        except Exception:  # not a cancellation: the write goes on in its thread
            for (repository, digest), tally in batch.items():
                self.count(repository, digest, tally.last, tally.count)
            raise
        return sum(tally.count for tally in batch.values())

    def _write(self, batch: dict[tuple[str, str], PullTally]) -> None:
        with self.store._write() as connection:
            add_pulls(connection, batch)


async def flush_forever(counter: PullCounter, interval: float) -> None:
    """The background task of each node (app.py's lifespan)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await counter.flush()
        except Exception:
            logger.exception("writing pull counts failed; they are kept for the next try")
