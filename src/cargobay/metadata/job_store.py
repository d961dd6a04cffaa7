"""Queries of the background work queue (`cargobay.jobs`): jobs and their schedules.

Nodes that share the database share the queue. Two nodes never run the same job: a claim
moves a row from queued to running with a compare-and-set UPDATE (`WHERE status =
'queued'`), and on PostgreSQL the candidate is picked `FOR UPDATE SKIP LOCKED` so that
claimers do not even wait for each other. SQLite has one writer at a time anyway.
A schedule's run is claimed the same way, by moving its `next_run_at` from the value read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from cargobay.metadata.db import WriteGate, Writes
from cargobay.metadata.models import Job, Schedule, as_utc, as_utc_or_none, utcnow

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED)


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    target: str | None
    payload: dict[str, Any]
    status: str
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    run_after: datetime
    started_at: datetime | None
    finished_at: datetime | None
    lease_until: datetime | None
    node: str | None
    attempts: int
    created_by: str | None


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    name: str
    cron: str
    kind: str
    payload: dict[str, Any]
    next_run_at: datetime


def _job(row: Any) -> JobRecord:
    return JobRecord(
        id=row.id,
        kind=row.kind,
        target=row.target,
        payload=json.loads(row.payload),
        status=row.status,
        result=json.loads(row.result) if row.result is not None else None,
        error=row.error,
        created_at=as_utc(row.created_at),
        run_after=as_utc(row.run_after),
        started_at=as_utc_or_none(row.started_at),
        finished_at=as_utc_or_none(row.finished_at),
        lease_until=as_utc_or_none(row.lease_until),
        node=row.node,
        attempts=row.attempts,
        created_by=row.created_by,
    )


def insert_job(
    connection: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    target: str | None = None,
    created_by: str | None = None,
    run_after: datetime | None = None,
) -> int:
    """Queue a job inside the caller's transaction; return its id."""
    now = utcnow()
    values = {
        "kind": kind,
        "target": target,
        "payload": json.dumps(payload),
        "status": QUEUED,
        "created_at": now,
        "run_after": run_after or now,
        "attempts": 0,
        "created_by": created_by,
    }
    return connection.execute(insert(Job).values(values).returning(Job.id)).scalar_one()


def put_schedule(
    connection: Connection,
    name: str,
    cron: str,
    kind: str,
    payload: dict[str, Any],
    next_run_at: Callable[[], datetime],
) -> None:
    """Create or change a schedule inside the caller's transaction. An unchanged cron keeps
    its next run (a restart must not push every schedule back)."""
    row = connection.execute(select(Schedule.cron).where(Schedule.name == name)).first()
    text = json.dumps(payload)
    if row is None:
        connection.execute(
            insert(Schedule).values(
                name=name, cron=cron, kind=kind, payload=text, next_run_at=next_run_at()
            )
        )
        return
    values: dict[str, Any] = {"kind": kind, "payload": text}
    if row.cron != cron:
        values.update(cron=cron, next_run_at=next_run_at())
    connection.execute(update(Schedule).where(Schedule.name == name).values(values))


def drop_schedule(connection: Connection, name: str) -> bool:
    return connection.execute(delete(Schedule).where(Schedule.name == name)).rowcount > 0


class JobStore:
    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self.engine = engine
        self.gate = gate
        self._write = Writes(engine, self.gate)

    # -- jobs ------------------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        target: str | None = None,
        created_by: str | None = None,
        run_after: datetime | None = None,
    ) -> int:
        with self._write() as connection:
            return insert_job(
                connection,
                kind,
                payload,
                target=target,
                created_by=created_by,
                run_after=run_after,
            )

    def record_finished(
        self,
        kind: str,
        payload: dict[str, Any],
        result: dict[str, Any],
        node: str,
        *,
        target: str | None = None,
        created_by: str | None = None,
    ) -> int:
        """Log work done right away (a dry run answered inline) as a succeeded job."""
        now = utcnow()
        values = {
            "kind": kind,
            "target": target,
            "payload": json.dumps(payload),
            "status": SUCCEEDED,
            "result": json.dumps(result),
            "created_at": now,
            "run_after": now,
            "started_at": now,
            "finished_at": now,
            "node": node,
            "attempts": 1,
            "created_by": created_by,
        }
        with self._write() as connection:
            return connection.execute(insert(Job).values(values).returning(Job.id)).scalar_one()

    def has_work(self, kinds: Sequence[str], now: datetime | None = None) -> bool:
        """Whether a claim would find anything: a due job of `kinds`, or an expired lease.
        A read, so an idle worker's poll never takes SQLite's write lock."""
        now = now or utcnow()
        due = (Job.status == QUEUED) & (Job.run_after <= now) & Job.kind.in_(kinds)
        expired = (Job.status == RUNNING) & (Job.lease_until < now)
        query = select(Job.id).where(due | expired).limit(1)
        with self.engine.connect() as connection:
            return connection.scalar(query) is not None

    def claim(
        self,
        node: str,
        kinds: Sequence[str],
        lease: timedelta,
        max_attempts: int,
        now: datetime | None = None,
    ) -> JobRecord | None:
        """Take the oldest due job of one of `kinds` for `node`, with a lease; None if none.

        Jobs whose node stopped renewing its lease first go back to the queue (or fail, after
        `max_attempts` runs): a node that died mid-job does not lose the job.
        """
        now = now or utcnow()
        with self._write() as connection:
            self._release_expired(connection, now, max_attempts)
            if not kinds:
                return None
            candidate = connection.scalar(
                select(Job.id)
                .where(Job.status == QUEUED, Job.run_after <= now, Job.kind.in_(kinds))
                .order_by(Job.run_after, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if candidate is None:
                return None
            claimed = connection.execute(
                update(Job)
                .where(Job.id == candidate, Job.status == QUEUED)
                .values(
                    status=RUNNING,
                    node=node,
                    started_at=now,
                    lease_until=now + lease,
                    attempts=Job.attempts + 1,
                )
            )
            if claimed.rowcount != 1:
                return None  # another node was faster; the next poll tries again
            return _job(connection.execute(select(Job).where(Job.id == candidate)).one())

    @staticmethod
    def _release_expired(connection: Connection, now: datetime, max_attempts: int) -> None:
        expired = (Job.status == RUNNING, Job.lease_until < now)
        connection.execute(
            update(Job)
            .where(*expired, Job.attempts >= max_attempts)
            .values(
                status=FAILED,
                finished_at=now,
                lease_until=None,
                error=f"its node stopped renewing the lease, {max_attempts} times",
            )
        )
        connection.execute(
            update(Job)
            .where(*expired, Job.attempts < max_attempts)
            .values(status=QUEUED, node=None, lease_until=None, started_at=None)
        )

    def renew(self, job_id: int, node: str, lease: timedelta) -> bool:
        """Extend a running job's lease; False if the node no longer holds it."""
        with self._write() as connection:
            result = connection.execute(
                update(Job)
                .where(Job.id == job_id, Job.node == node, Job.status == RUNNING)
                .values(lease_until=utcnow() + lease)
            )
            return result.rowcount == 1

    def finish(
        self,
        job_id: int,
        node: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Record the end of a job this node holds; False if it had lost the lease."""
        with self._write() as connection:
            outcome = connection.execute(
                update(Job)
                .where(Job.id == job_id, Job.node == node, Job.status == RUNNING)
                .values(
                    status=FAILED if error is not None else SUCCEEDED,
                    result=json.dumps(result) if result is not None else None,
                    error=error,
                    finished_at=utcnow(),
                    lease_until=None,
                )
            )
            return outcome.rowcount == 1

    def get(self, job_id: int) -> JobRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(Job).where(Job.id == job_id)).first()
        return _job(row) if row else None

    def list(
        self,
        limit: int,
        before: int | None = None,
        kind: str | None = None,
        status: str | None = None,
        target: str | None = None,
    ) -> list[JobRecord]:
        """Jobs newest first (by id, below `before`)."""
        query = select(Job).order_by(Job.id.desc()).limit(limit)
        if before is not None:
            query = query.where(Job.id < before)
        if kind is not None:
            query = query.where(Job.kind == kind)
        if status is not None:
            query = query.where(Job.status == status)
        if target is not None:
            query = query.where(Job.target == target)
        with self.engine.connect() as connection:
            return [_job(row) for row in connection.execute(query)]

    # -- schedules -------------------------------------------------------------------------

    def put_schedule(
        self,
        name: str,
        cron: str,
        kind: str,
        payload: dict[str, Any],
        next_run_at: Callable[[], datetime],
    ) -> None:
        with self._write() as connection:
            put_schedule(connection, name, cron, kind, payload, next_run_at)

    def drop_schedule(self, name: str) -> bool:
        with self._write() as connection:
            return drop_schedule(connection, name)

    def schedule(self, name: str) -> ScheduleRecord | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(Schedule).where(Schedule.name == name)).first()
        return _schedule(row) if row else None

    def due_schedules(self, now: datetime, limit: int = 100) -> list[ScheduleRecord]:
        query = (
            select(Schedule)
            .where(Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [_schedule(row) for row in connection.execute(query)]

    def fire_schedule(self, due: ScheduleRecord, next_run_at: datetime) -> int | None:
        """Move a due schedule on and queue its job, in one transaction; None if another
        node moved it first (it read the same `next_run_at` and won the compare-and-set)."""
        with self._write() as connection:
            moved = connection.execute(
                update(Schedule)
                .where(Schedule.name == due.name, Schedule.next_run_at == due.next_run_at)
                .values(next_run_at=next_run_at)
            )
            if moved.rowcount != 1:
                return None
            # The job's target is the schedule's name: scheduled and on-demand runs of one
            # thing (`retention-policy:7`) are listed together.
            return insert_job(connection, due.kind, due.payload, target=due.name)


def _schedule(row: Any) -> ScheduleRecord:
    return ScheduleRecord(
        row.name, row.cron, row.kind, json.loads(row.payload), as_utc(row.next_run_at)
    )
