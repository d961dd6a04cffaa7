"""Cron schedules: each due run is queued exactly once, however many nodes race for it."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from cargobay.jobs import Scheduler, Worker
from cargobay.jobs.cron import CronInvalid
from cargobay.metadata.job_store import SUCCEEDED, JobRecord, JobStore
from cargobay.metadata.models import utcnow
from cargobay.metadata.runner import Runner


def test_a_due_schedule_is_fired_exactly_once_by_two_racing_schedulers(
    stores: tuple[JobStore, JobStore],
) -> None:
    stores[0].put_schedule("gc", "*/5 * * * *", "gc", {"deep": True}, utcnow)
    due = stores[0].due_schedules(utcnow())
    assert [s.name for s in due] == ["gc"]
    fired: list[int | None] = []
    barrier = threading.Barrier(2)

    def fire(store: JobStore) -> None:
        seen = store.due_schedules(utcnow())[0]  # both read the same due run...
        barrier.wait()
        fired.append(store.fire_schedule(seen, utcnow() + timedelta(minutes=5)))  # ...one wins

    threads = [threading.Thread(target=fire, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fired, key=lambda x: x is None)[1] is None
    jobs = stores[0].list(10, kind="gc")
    assert len(jobs) == 1 and jobs[0].payload == {"deep": True} and jobs[0].target == "gc"
    assert stores[0].due_schedules(utcnow()) == []


def test_schedulers_on_two_nodes_queue_each_run_once(
    stores: tuple[JobStore, JobStore], runner: Runner
) -> None:
    schedulers = [Scheduler(store, runner) for store in stores]

    async def race() -> list[list[int]]:
        await schedulers[0].ensure("gc", "0 3 * * *")
        # Make the run due, then let both nodes tick at once, several times.
        stores[0].put_schedule("gc", "0 4 * * *", "gc", {}, lambda: utcnow() - timedelta(1))
        ticks = [s.tick() for s in schedulers for _ in range(3)]
        return await asyncio.gather(*ticks)

    fired = [job for jobs in asyncio.run(race()) for job in jobs]
    assert len(fired) == 1
    following = stores[1].schedule("gc")
    assert following is not None and following.next_run_at > utcnow()


def test_ensuring_an_unchanged_schedule_keeps_its_next_run(store: JobStore, runner: Runner) -> None:
    scheduler = Scheduler(store, runner)
    asyncio.run(scheduler.ensure("nightly", "0 3 * * *", "gc", {"a": 1}))
    first = store.schedule("nightly")
    asyncio.run(scheduler.ensure("nightly", "0 3 * * *", "gc", {"a": 1}))
    assert store.schedule("nightly") == first
    asyncio.run(scheduler.ensure("nightly", "30 2 * * *", "gc", {"a": 1}))
    changed = store.schedule("nightly")
    assert changed is not None and (changed.next_run_at.hour, changed.next_run_at.minute) == (2, 30)
    assert first is not None and first.next_run_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("expression", ["", "bad", "61 * * * *", "* * * *", "0 3 * * * *"])
def test_a_bad_cron_expression_is_refused(store: JobStore, runner: Runner, expression: str) -> None:
    with pytest.raises(CronInvalid, match="not a cron expression"):
        asyncio.run(Scheduler(store, runner).ensure("x", expression))


def test_a_worker_runs_a_job_with_its_handler_and_keeps_the_result(
    store: JobStore, runner: Runner
) -> None:
    seen: list[JobRecord] = []

    async def handler(job: JobRecord) -> dict[str, int]:
        seen.append(job)
        return {"twice": job.payload["n"] * 2}

    worker = Worker(store, runner, node="node-a")
    worker.register("double", handler)
    job_id = store.enqueue("double", {"n": 21})
    assert asyncio.run(worker.run_once()) is not None
    done = store.get(job_id)
    assert done is not None and done.status == SUCCEEDED and done.result == {"twice": 42}
    assert done.finished_at is not None and done.finished_at >= datetime(2026, 1, 1, tzinfo=UTC)
    assert asyncio.run(worker.run_once()) is None


def test_a_failing_handler_fails_its_job(store: JobStore, runner: Runner) -> None:
    async def handler(job: JobRecord) -> None:
        raise RuntimeError("boom")

    worker = Worker(store, runner)
    worker.register("explode", handler)
    job_id = store.enqueue("explode", {})
    asyncio.run(worker.run_once())
    failed = store.get(job_id)
    assert failed is not None and failed.status == "failed" and failed.error == "RuntimeError: boom"


def test_a_long_job_keeps_its_lease_renewed(store: JobStore, runner: Runner) -> None:
    async def slow(job: JobRecord) -> None:
        await asyncio.sleep(1.6)

    worker = Worker(store, runner, lease=timedelta(seconds=1))  # renewed every third of it
    worker.register("slow", slow)
    job_id = store.enqueue("slow", {})

    async def run_and_peek() -> JobRecord | None:
        running = asyncio.create_task(worker.run_once())
        await asyncio.sleep(1.3)  # past the first lease
        peek = store.get(job_id)
        await running
        return peek

    peek = asyncio.run(run_and_peek())
    assert peek is not None and peek.status == "running"
    assert peek.lease_until is not None and peek.lease_until > peek.started_at + timedelta(
        seconds=1
    )
