"""Recurring jobs: named cron schedules in the database, fired by whichever node sees one
due first. Every node runs a scheduler; a run is enqueued exactly once because firing moves
the schedule's `next_run_at` by compare-and-set, in the transaction that queues the job.

A node that was down when a run was due fires it when it comes back, once: missed runs are
not caught up one by one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from cargobay.jobs import cron
from cargobay.jobs.queue import JobQueue
from cargobay.metadata.job_store import JobStore, ScheduleRecord
from cargobay.metadata.models import utcnow
from cargobay.metadata.runner import Runner

logger = logging.getLogger("cargobay.jobs")


class Scheduler:
    def __init__(self, store: JobStore, db: Runner, queue: JobQueue | None = None) -> None:
        self.store = store
        self.db = db
        self.queue = queue

    async def ensure(
        self,
        name: str,
        expression: str,
        kind: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Run a job of `kind` (default: `name`) with `payload` on the cron `expression`.

        Calling it again with the same expression keeps the next run; every node may call
        it at start-up.
        """
        cron.check(expression)
        await self.db.write(
            self.store.put_schedule,
            name,
            expression,
            kind or name,
            payload or {},
            lambda: cron.next_run(expression, utcnow()),
        )

    async def remove(self, name: str) -> bool:
        return await self.db.write(self.store.drop_schedule, name)

    async def get(self, name: str) -> ScheduleRecord | None:
        return await self.db.read(self.store.schedule, name)

    async def tick(self, now: datetime | None = None) -> list[int]:
        """Fire every due schedule this node wins; return the ids of the jobs it queued."""
        now = now or utcnow()
        fired: list[int] = []
        for due in await self.db.read(self.store.due_schedules, now):
            try:
                following = cron.next_run(due.cron, now)
            except (ValueError, KeyError):
                logger.error("schedule %s has a bad cron expression %r", due.name, due.cron)
                continue
            job_id = await self.db.write(self.store.fire_schedule, due, following)
            if job_id is not None:
                logger.info("schedule %s queued job %d", due.name, job_id)
                fired.append(job_id)
        if fired and self.queue is not None:
            self.queue.on_enqueue()
        return fired

    async def run_forever(self, poll_interval: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("the job scheduler failed")
            await asyncio.sleep(poll_interval)
