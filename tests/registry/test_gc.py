"""Garbage collection: what it keeps, what it removes, its dry run, runs, API and lease.

"Old" below means past the grace period and the history window: `age` moves the timestamps
of everything pushed so far 30 days back, so what a test pushes after it is young.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from gchelpers import (
    age,
    blob_intact,
    blobs_of,
    bytes_stored,
    collect,
    manifest_exists,
    removed_blobs,
    removed_manifests,
)
from pydantic import ValidationError
from starlette.testclient import TestClient

from api.helpers import make_user
from cargobay.app import create_app
from cargobay.config import Settings
from cargobay.events import Event, EventType
from conformance.helpers import (
    OCI_CONFIG,
    OCI_MANIFEST,
    Manifest,
    build_artifact,
    config_blob,
    descriptor,
    encode,
    make_image_manifest,
    push_blob,
    push_image,
    push_index,
    push_manifest,
    random_bytes,
)
from liveserver import ADMIN

REPO = "library/app"


def test_an_untagged_manifest_is_removed_with_the_blobs_only_it_used(client: TestClient) -> None:
    image = push_image(client, REPO)  # by digest: no tag
    age(client)
    report = collect(client)
    assert removed_manifests(report) == {image.digest}
    assert removed_blobs(report) == blobs_of(image.body)
    assert not manifest_exists(client, REPO, image.digest)
    assert not any(bytes_stored(client, blob) for blob in blobs_of(image.body))
    assert report["bytes_reclaimed"] == sum(b["size"] for b in report["blobs"])


def test_what_gc_removes_no_longer_counts_in_the_projects_usage(client: TestClient) -> None:
    project = REPO.partition("/")[0]
    client.post("/api/v1/projects", json={"name": project})
    before = client.get(f"/api/v1/projects/{project}/usage").json()["used_bytes"]
    push_image(client, REPO)  # untagged: garbage once aged
    assert client.get(f"/api/v1/projects/{project}/usage").json()["used_bytes"] > before
    age(client)
    collect(client)
    assert client.get(f"/api/v1/projects/{project}/usage").json()["used_bytes"] == before


def test_a_tagged_manifest_and_its_blobs_are_kept(client: TestClient) -> None:
    image = push_image(client, REPO, "v1")
    age(client)
    report = collect(client)
    assert report["manifests"] == [] and report["blobs"] == []
    assert manifest_exists(client, REPO, image.digest)
    assert all(blob_intact(client, REPO, blob) for blob in blobs_of(image.body))


def test_an_untagged_manifest_within_the_grace_period_is_kept(client: TestClient) -> None:
    image = push_image(client, REPO)
    report = collect(client)
    assert report["manifests"] == [] and report["blobs"] == []
    assert manifest_exists(client, REPO, image.digest)


def test_a_blob_no_manifest_uses_is_removed_once_past_the_grace_period(
    client: TestClient,
) -> None:
    old = push_blob(client, REPO, random_bytes())
    age(client)
    young = push_blob(client, REPO, random_bytes())
    assert removed_blobs(collect(client)) == {old}
    assert client.head(f"/v2/{REPO}/blobs/{old}").status_code == 404
    assert blob_intact(client, REPO, young)


def config_blob_of(client: TestClient) -> bytes:
    config = config_blob()
    push_blob(client, REPO, config)
    return config


def test_a_blob_shared_with_a_kept_manifest_is_kept(client: TestClient) -> None:
    shared = random_bytes()
    push_blob(client, REPO, shared)
    config = random_bytes()
    push_blob(client, REPO, config)
    layer = descriptor("application/vnd.oci.image.layer.v1.tar", shared)
    untagged = Manifest(
        encode(make_image_manifest(descriptor(OCI_CONFIG, config_blob_of(client)), [layer])),
        OCI_MANIFEST,
    )
    push_manifest(client, REPO, untagged)
    kept = push_image(client, REPO, "v1")
    sharing = Manifest(
        encode(make_image_manifest(descriptor(OCI_CONFIG, config), [layer])), OCI_MANIFEST
    )
    push_manifest(client, REPO, sharing, "shared")
    age(client)
    report = collect(client)
    assert removed_manifests(report) == {untagged.digest}
    assert removed_blobs(report) == blobs_of(untagged.body) - {layer["digest"]}
    for image in (kept, sharing):
        assert all(blob_intact(client, REPO, blob) for blob in blobs_of(image.body))


def test_a_manifest_deleted_within_the_history_window_is_kept(client: TestClient) -> None:
    image = push_image(client, REPO, "v1")
    assert client.delete(f"/v2/{REPO}/manifests/{image.digest}").status_code == 202
    age(client, deletions=False, history=False)  # pushed long ago, deleted just now
    report = collect(client)
    assert report["manifests"] == [] and report["blobs"] == []
    assert all(bytes_stored(client, blob) for blob in blobs_of(image.body))


def test_a_manifest_deleted_before_the_history_window_is_removed(client: TestClient) -> None:
    image = push_image(client, REPO, "v1")
    assert client.delete(f"/v2/{REPO}/manifests/{image.digest}").status_code == 202
    age(client)
    report = collect(client)
    assert removed_manifests(report) == {image.digest}
    assert removed_blobs(report) == blobs_of(image.body)


def test_a_manifest_a_recent_tag_history_entry_names_is_kept(client: TestClient) -> None:
    first = push_image(client, REPO, "latest")
    age(client, history=False)
    push_image(client, REPO, "latest")  # moves the tag: history says it was on `first`
    age(client, history=False)
    report = collect(client)
    assert first.digest not in removed_manifests(report)
    assert manifest_exists(client, REPO, first.digest)


def test_a_manifest_only_old_history_names_is_removed(client: TestClient) -> None:
    first = push_image(client, REPO, "latest")
    push_image(client, REPO, "latest")
    age(client)
    assert removed_manifests(collect(client)) == {first.digest}


def test_the_children_of_a_tagged_index_are_kept(client: TestClient) -> None:
    children = [push_image(client, REPO), push_image(client, REPO)]
    index = push_index(client, REPO, children, "multi")
    age(client)
    report = collect(client)
    assert report["manifests"] == [] and report["blobs"] == []
    for child in children:
        assert manifest_exists(client, REPO, child.digest)
    assert manifest_exists(client, REPO, index.digest)


def test_an_untagged_index_goes_with_its_children(client: TestClient) -> None:
    children = [push_image(client, REPO), push_image(client, REPO)]
    index = push_index(client, REPO, children)
    age(client)
    report = collect(client)
    assert removed_manifests(report) == {index.digest, *(c.digest for c in children)}
    removed_order = [m["digest"] for m in report["manifests"]]
    assert removed_order[0] == index.digest  # the keeper goes first


def test_a_child_shared_with_a_tagged_index_is_kept(client: TestClient) -> None:
    shared, other = push_image(client, REPO), push_image(client, REPO)
    push_index(client, REPO, [shared], "kept")
    untagged = push_index(client, REPO, [shared, other])
    age(client)
    assert removed_manifests(collect(client)) == {untagged.digest, other.digest}
    assert manifest_exists(client, REPO, shared.digest)


def test_a_referrer_of_a_kept_subject_is_kept(client: TestClient) -> None:
    subject = push_image(client, REPO, "v1")
    signature = build_artifact(
        client, REPO, artifact_type="application/example.sig", subject=subject.descriptor()
    )
    push_manifest(client, REPO, signature)  # by digest, untagged
    age(client)
    assert collect(client)["manifests"] == []
    assert manifest_exists(client, REPO, signature.digest)


def test_a_referrer_of_a_removed_subject_is_removed(client: TestClient) -> None:
    subject = push_image(client, REPO)
    signature = build_artifact(
        client, REPO, artifact_type="application/example.sig", subject=subject.descriptor()
    )
    push_manifest(client, REPO, signature)
    age(client)
    report = collect(client)
    assert [m["digest"] for m in report["manifests"]] == [subject.digest, signature.digest]


def test_a_dry_run_reports_exactly_what_the_run_then_removes(client: TestClient) -> None:
    children = [push_image(client, REPO), push_image(client, REPO)]
    push_index(client, REPO, children)
    push_image(client, REPO, "kept")
    push_blob(client, REPO, random_bytes())
    age(client)
    dry = collect(client, dry_run=True)
    assert dry["dry_run"] is True and dry["manifests_removed"] == 3
    assert all(manifest_exists(client, REPO, m["digest"]) for m in dry["manifests"])
    assert all(bytes_stored(client, b["digest"]) for b in dry["blobs"])
    real = collect(client)
    assert removed_manifests(real) == removed_manifests(dry)
    assert removed_blobs(real) == removed_blobs(dry)
    assert real["bytes_reclaimed"] == dry["bytes_reclaimed"]


def test_a_manifest_pushed_again_by_digest_gets_a_new_grace_period(client: TestClient) -> None:
    image = push_image(client, REPO)
    age(client)
    push_manifest(client, REPO, image)  # again, as a client pushing an index's children would
    assert collect(client)["manifests"] == []
    assert manifest_exists(client, REPO, image.digest)


def test_a_blob_pushed_again_gets_a_new_grace_period(client: TestClient) -> None:
    data = random_bytes()
    digest = push_blob(client, REPO, data)
    age(client)
    push_blob(client, REPO, data)
    assert collect(client)["blobs"] == []
    assert blob_intact(client, REPO, digest)


def test_abandoned_uploads_are_purged(client: TestClient) -> None:
    assert client.post(f"/v2/{REPO}/blobs/uploads/").status_code == 202
    collector = client.app.state.gc
    collector.settings.upload_max_age = timedelta(0)
    report = collect(client)
    assert report["uploads_purged"] == 1


def test_runs_are_recorded_newest_first(client: TestClient) -> None:
    push_image(client, REPO)
    age(client)
    dry = collect(client, dry_run=True)
    real = collect(client)
    runs = client.get("/api/v1/gc/runs").json()["items"]
    assert [run["id"] for run in runs] == [real["run_id"], dry["run_id"]]
    assert runs[0]["status"] == "finished" and runs[0]["dry_run"] is False
    assert runs[0]["manifests_removed"] == 1 and runs[0]["actor"] == "admin"
    assert runs[1]["dry_run"] is True


def test_a_run_emits_gc_finished_with_the_bytes_reclaimed(
    client: TestClient, events: list[Event]
) -> None:
    push_image(client, REPO)
    age(client)
    report = collect(client)
    finished = [event for event in events if event.type is EventType.GC_FINISHED]
    assert len(finished) == 1
    assert finished[0].size == report["bytes_reclaimed"] > 0
    assert finished[0].actor == "admin"


def test_a_collection_while_another_holds_the_lease_is_refused_with_409(
    client: TestClient,
) -> None:
    store = client.app.state.gc.store
    assert store.claim("gc", "another-node", timedelta(minutes=5))
    response = client.post("/api/v1/gc", json={})
    assert response.status_code == 409
    store.release("gc", "another-node")
    assert client.post("/api/v1/gc", json={}).status_code == 200


def test_an_expired_lease_is_taken_over(client: TestClient) -> None:
    store = client.app.state.gc.store
    assert store.claim("gc", "a-dead-node", timedelta(seconds=-1))
    assert client.post("/api/v1/gc", json={}).status_code == 200


def test_only_administrators_may_collect(client: TestClient) -> None:
    as_dev = make_user(client, "dev")
    assert client.post("/api/v1/gc", json={}, auth=as_dev).status_code == 403
    assert client.get("/api/v1/gc/runs", auth=as_dev).status_code == 403
    assert client.post("/api/v1/gc", json={}, auth=None).status_code == 401


def test_bytes_an_interrupted_run_left_in_quarantine_go_back_if_their_row_survived(
    client: TestClient,
) -> None:
    kept = push_image(client, REPO, "v1")
    layer = sorted(blobs_of(kept.body))[0]
    orphan = push_blob(client, REPO, random_bytes())
    store = client.app.state.registry.blobs
    # As if a run died after moving the bytes out, before (kept) and after (orphan) its commit.
    store.quarantine(layer)
    token = store.quarantine(orphan)
    client.app.state.registry.metadata.unlink_blob(REPO, orphan)
    engine = client.app.state.registry.metadata.engine
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DELETE FROM blobs WHERE digest = '{orphan}'")
    collect(client)
    assert blob_intact(client, REPO, layer)
    assert store.quarantined() == [] and token is not None and not bytes_stored(client, orphan)


def test_a_gc_schedule_runs_collections_as_background_jobs(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"gc_schedule": "0 3 * * *"}))
    with TestClient(app) as scheduled:
        scheduled.auth = ADMIN
        jobs = app.state.jobs
        schedule = scheduled.portal.call(jobs.scheduler.get, "gc")  # type: ignore[union-attr]
        assert schedule is not None and schedule.cron == "0 3 * * *"
        due = schedule.next_run_at + timedelta(seconds=1)
        assert len(scheduled.portal.call(jobs.scheduler.tick, due)) == 1  # type: ignore[union-attr]
        # The node's own worker, woken by the queueing, runs the job.
        deadline = time.monotonic() + 20
        runs: list[dict] = []
        while not runs and time.monotonic() < deadline:
            time.sleep(0.1)
            runs = scheduled.get("/api/v1/gc/runs").json()["items"]
        assert runs and runs[0]["actor"] is None and runs[0]["status"] == "finished"


def test_without_a_gc_schedule_no_collection_is_scheduled(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"gc_schedule": "0 3 * * *"}))):
        pass
    app = create_app(settings)
    with TestClient(app) as unscheduled:
        jobs = app.state.jobs
        assert unscheduled.portal.call(jobs.scheduler.get, "gc") is None  # type: ignore[union-attr]


def test_a_gc_schedule_that_is_not_cron_is_refused(settings: Settings) -> None:
    with pytest.raises(ValidationError, match="not a cron expression"):
        settings.model_validate({**settings.model_dump(), "gc_schedule": "every night"})
