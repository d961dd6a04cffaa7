"""Putting work on the queue and reading it back: what routes and services call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from cargobay.metadata.job_store import JobRecord, JobStore
from cargobay.metadata.runner import Runner


class JobQueue:
    def __init__(self, store: JobStore, db: Runner) -> None:
        self.store = store
        self.db = db
        # Called after every enqueue, so this node's worker looks at once instead of at its
        # next poll (other nodes find the job when they poll).
        self.on_enqueue: Callable[[], None] = lambda: None

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        target: str | None = None,
        created_by: str | None = None,
        run_after: datetime | None = None,
    ) -> int:
        """Queue a job for whichever node's worker handles `kind`; return its id."""
        job_id = await self.db.write(
            self.store.enqueue,
            kind,
            payload or {},
            target=target,
            created_by=created_by,
            run_after=run_after,
        )
        self.on_enqueue()
        return job_id

    async def get(self, job_id: int) -> JobRecord | None:
        return await self.db.read(self.store.get, job_id)

    async def list(
        self,
        limit: int,
        before: int | None = None,
        *,
        kind: str | None = None,
        status: str | None = None,
        target: str | None = None,
    ) -> list[JobRecord]:
        return await self.db.read(self.store.list, limit, before, kind, status, target)
