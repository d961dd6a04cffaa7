"""Background work kept in the metadata database, shared by every node.

- `JobQueue.enqueue(kind, payload)` queues a job;
- `Worker.register(kind, handler)` says how to run a kind; each process runs one worker;
- `Scheduler.ensure(name, cron, kind, payload)` queues a job on a cron schedule.

`build_jobs` wires the three onto the registry's database; `cargobay.app` starts the
worker and the scheduler in its lifespan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cargobay.config import Settings
from cargobay.jobs.queue import JobQueue
from cargobay.jobs.scheduler import Scheduler
from cargobay.jobs.worker import Handler, JobFailed, Worker
from cargobay.metadata.job_store import JobRecord, JobStore
from cargobay.metadata.runner import Runner

__all__ = ["Handler", "JobFailed", "JobQueue", "JobRecord", "Jobs", "Scheduler", "Worker"]


@dataclass(frozen=True, slots=True)
class Jobs:
    queue: JobQueue
    worker: Worker
    scheduler: Scheduler


def build_jobs(settings: Settings, store: JobStore, db: Runner) -> Jobs:
    queue = JobQueue(store, db)
    worker = Worker(
        store,
        db,
        lease=timedelta(seconds=settings.job_lease_seconds),
        poll_interval=settings.job_poll_interval_seconds,
        max_attempts=settings.job_max_attempts,
    )
    queue.on_enqueue = worker.nudge
    return Jobs(queue, worker, Scheduler(store, db, queue))
