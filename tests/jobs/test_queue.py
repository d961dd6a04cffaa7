"""The job queue: claims, leases, take-over of a dead node's job, results."""

from __future__ import annotations

import threading
from datetime import timedelta

from cargobay.metadata.job_store import FAILED, QUEUED, RUNNING, SUCCEEDED, JobStore
from cargobay.metadata.models import utcnow

LEASE = timedelta(seconds=30)


def test_the_oldest_due_job_is_claimed_first_and_only_once(store: JobStore) -> None:
    first = store.enqueue("gc", {"n": 1})
    second = store.enqueue("gc", {"n": 2})
    store.enqueue("gc", {"n": 3}, run_after=utcnow() + timedelta(hours=1))
    claimed = store.claim("node-a", ["gc"], LEASE, 3)
    assert claimed is not None and claimed.id == first and claimed.payload == {"n": 1}
    assert claimed.status == RUNNING and claimed.node == "node-a" and claimed.attempts == 1
    again = store.claim("node-b", ["gc"], LEASE, 3)
    assert again is not None and again.id == second
    assert store.claim("node-b", ["gc"], LEASE, 3) is None  # the third is not due yet


def test_a_worker_claims_only_the_kinds_it_handles(store: JobStore) -> None:
    store.enqueue("retention.run", {})
    assert store.claim("node-a", ["gc"], LEASE, 3) is None
    assert store.claim("node-a", ["retention.run"], LEASE, 3) is not None


def test_two_nodes_racing_never_claim_the_same_job(stores: tuple[JobStore, JobStore]) -> None:
    for n in range(20):
        stores[0].enqueue("gc", {"n": n})
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def drain(node: str, store: JobStore) -> None:
        while (job := store.claim(node, ["gc"], LEASE, 3)) is not None:
            claimed[node].append(job.id)

    threads = [
        threading.Thread(target=drain, args=(node, store))
        for node, store in zip(("a", "b"), stores, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = claimed["a"] + claimed["b"]
    assert sorted(everything) == sorted(set(everything)) and len(everything) == 20


def test_a_job_whose_node_died_is_taken_over_after_its_lease(store: JobStore) -> None:
    job_id = store.enqueue("gc", {})
    assert store.claim("dead-node", ["gc"], LEASE, 3) is not None
    assert store.claim("node-b", ["gc"], LEASE, 3) is None  # the lease still holds
    later = utcnow() + LEASE + timedelta(seconds=1)
    taken = store.claim("node-b", ["gc"], LEASE, 3, now=later)
    assert taken is not None and taken.id == job_id
    assert taken.node == "node-b" and taken.attempts == 2
    # The dead node, should it wake up, can neither renew nor finish the job any more.
    assert not store.renew(job_id, "dead-node", LEASE)
    assert not store.finish(job_id, "dead-node", {"done": True})
    assert store.finish(job_id, "node-b", {"done": True})
    finished = store.get(job_id)
    assert finished is not None and finished.status == SUCCEEDED
    assert finished.result == {"done": True}


def test_a_renewed_lease_is_not_taken_over(store: JobStore) -> None:
    job_id = store.enqueue("gc", {})
    store.claim("node-a", ["gc"], timedelta(seconds=5), 3)
    assert store.renew(job_id, "node-a", timedelta(hours=1))
    assert store.claim("node-b", ["gc"], LEASE, 3, now=utcnow() + timedelta(minutes=5)) is None


def test_a_job_fails_after_its_attempts_run_out(store: JobStore) -> None:
    job_id = store.enqueue("gc", {})
    moment = utcnow()
    for _ in range(2):
        assert store.claim("node", ["gc"], LEASE, 2, now=moment) is not None
        moment += LEASE + timedelta(seconds=1)
    assert store.claim("node", ["gc"], LEASE, 2, now=moment) is None
    failed = store.get(job_id)
    assert failed is not None and failed.status == FAILED and "lease" in (failed.error or "")


def test_an_error_fails_the_job_with_its_message(store: JobStore) -> None:
    job_id = store.enqueue("gc", {})
    store.claim("node", ["gc"], LEASE, 3)
    store.finish(job_id, "node", error="disk full")
    failed = store.get(job_id)
    assert failed is not None and failed.status == FAILED and failed.error == "disk full"


def test_jobs_are_listed_newest_first_by_kind_and_status(store: JobStore) -> None:
    gc = store.enqueue("gc", {})
    retention = store.enqueue("retention.run", {}, target="retention-policy:1")
    assert [j.id for j in store.list(10)] == [retention, gc]
    assert [j.id for j in store.list(10, kind="gc")] == [gc]
    assert [j.id for j in store.list(10, status=QUEUED, target="retention-policy:1")] == [retention]
    assert [j.id for j in store.list(10, before=retention)] == [gc]


def test_an_idle_queue_has_no_work_and_an_expired_lease_is_work(store: JobStore) -> None:
    assert not store.has_work(["gc"])
    store.enqueue("gc", {}, run_after=utcnow() + timedelta(hours=1))
    assert not store.has_work(["gc"])
    store.enqueue("gc", {})
    assert store.has_work(["gc"]) and not store.has_work(["other"])
    store.claim("node", ["gc"], LEASE, 3)
    assert not store.has_work(["gc"])
    assert store.has_work(["other"], now=utcnow() + LEASE + timedelta(seconds=1))
