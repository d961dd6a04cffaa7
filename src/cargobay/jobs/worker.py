"""The worker: one per process, running one job at a time, of the kinds it has handlers for.

A running job's lease is renewed in the background every third of its length; if this
process dies, the lease runs out and another node's worker takes the job over. A handler
that raises fails its job: it is not retried (only a dead node's job is), since only the
handler knows whether doing its work twice is safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from cargobay.metadata.job_store import JobRecord, JobStore
from cargobay.metadata.runner import Runner

logger = logging.getLogger("cargobay.jobs")

Handler = Callable[[JobRecord], Awaitable[dict[str, Any] | None]]


class JobFailed(Exception):
    """Raised by a handler to fail its job with this message (and no traceback logged)."""


def node_name() -> str:
    """This process's name in the jobs table: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        store: JobStore,
        db: Runner,
        *,
        node: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        poll_interval: float = 5.0,
        max_attempts: int = 3,
    ) -> None:
        self.store = store
        self.db = db
        self.node = node or node_name()
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self._handlers: dict[str, Handler] = {}
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: Handler) -> None:
        """Run `handler` for jobs of `kind`; it returns the job's result (JSON-able)."""
        self._handlers[kind] = handler

    def nudge(self) -> None:
        """Look for work now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> JobRecord | None:
        """Claim and run one due job; return it (as claimed), or None if there was none."""
        kinds = sorted(self._handlers)
        if not await self.db.read(self.store.has_work, kinds):
            return None
        job = await self.db.write(self.store.claim, self.node, kinds, self.lease, self.max_attempts)
        if job is None:
            return None
        renewing = asyncio.create_task(self._renew(job))
        try:
            result, error = await self._run(job)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        if not await self.db.write(self.store.finish, job.id, self.node, result, error):
            logger.warning("job %d (%s) ended after its lease was taken over", job.id, job.kind)
        return job

    async def _run(self, job: JobRecord) -> tuple[dict[str, Any] | None, str | None]:
        try:
            return await self._handlers[job.kind](job), None
        except JobFailed as exc:
            return None, str(exc)
        except Exception as exc:
            logger.exception("job %d (%s) failed", job.id, job.kind)
            return None, f"{type(exc).__name__}: {exc}"

    async def _renew(self, job: JobRecord) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                if not await self.db.write(self.store.renew, job.id, self.node, self.lease):
                    logger.warning("job %d (%s): lease lost to another node", job.id, job.kind)
                    return
            except Exception:
                logger.exception("renewing the lease of job %d failed", job.id)

    async def run_forever(self) -> None:
        while True:
            try:
                if await self.run_once() is not None:
                    continue  # there may be more
            except Exception:
                logger.exception("the job worker failed to claim a job")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
