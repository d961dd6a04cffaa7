"""/projects/{project}/retention-policies: policies, dry runs, runs as jobs, /jobs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from cargobay.app import create_app
from cargobay.config import Settings
from cargobay.events import Dispatcher, Event, EventType
from cargobay.metadata.errors import TagImmutable
from cargobay.metadata.models import Manifest, Schedule, TagHistory, utcnow
from conformance.helpers import push_image, push_index, push_manifest
from liveserver import ADMIN

from .helpers import API, add_member, is_problem, make_project, make_user

POLICIES = f"{API}/projects/team/retention-policies"
KEEP_LATEST_SEMVER = {"keep": {"latest": {"count": 1, "by": "semver"}}}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Scheduled runs are found within a tenth of a second (queued ones start at once).
    return settings.model_copy(update={"job_poll_interval_seconds": 0.1})


def create_policy(client: TestClient, rules: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.post(POLICIES, json={"name": "cleanup", "rules": rules, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(client: TestClient, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = client.get(f"{API}/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def run(client: TestClient, policy: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    response = client.post(f"{POLICIES}/{policy['id']}/run", json={"dry_run": dry_run})
    assert response.status_code == (200 if dry_run else 202), response.text
    job = response.json() if dry_run else wait_for(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job["result"]


def tags_of(client: TestClient, repository: str) -> list[str]:
    return client.get(f"/v2/{repository}/tags/list").json()["tags"]


def shared_manifest_repository(client: TestClient) -> dict[str, str]:
    """team/app: 2.0.0 and build-2 share a manifest; 1.0.0 and build-1 another."""
    make_project(client, "team")
    new = push_image(client, "team/app", "2.0.0")
    push_manifest(client, "team/app", new, "build-2")
    old = push_image(client, "team/app", "1.0.0")
    push_manifest(client, "team/app", old, "build-1")
    return {"new": new.digest, "old": old.digest}


def decisions(result: dict[str, Any], kind: str) -> dict[str, tuple[str, str]]:
    key = "tag" if kind == "tags" else "digest"
    return {d[key]: (d["action"], d["rule"]) for d in result[kind]}


# -- runs ------------------------------------------------------------------------------------


def test_a_dry_run_lists_what_would_go_and_why_and_deletes_nothing(client: TestClient) -> None:
    digests = shared_manifest_repository(client)
    policy = create_policy(client, KEEP_LATEST_SEMVER)
    result = run(client, policy, dry_run=True)
    assert result["dry_run"] is True and result["repositories"] == 1
    assert decisions(result, "tags") == {
        "2.0.0": ("keep", "latest"),
        "build-2": ("delete", "no_rule"),
        "1.0.0": ("delete", "no_rule"),
        "build-1": ("delete", "no_rule"),
    }
    assert decisions(result, "manifests") == {
        digests["new"]: ("keep", "tag_kept"),
        digests["old"]: ("delete", "no_tag_kept"),
    }
    assert sorted(tags_of(client, "team/app")) == ["1.0.0", "2.0.0", "build-1", "build-2"]


def test_the_real_run_deletes_exactly_what_the_dry_run_listed(client: TestClient) -> None:
    digests = shared_manifest_repository(client)
    policy = create_policy(client, KEEP_LATEST_SEMVER)
    planned = run(client, policy, dry_run=True)
    done = run(client, policy)
    assert done["dry_run"] is False
    for part in ("summary", "tags", "manifests"):
        assert done[part] == planned[part]
    assert tags_of(client, "team/app") == ["2.0.0"]
    assert client.get(f"/v2/team/app/manifests/{digests['old']}").status_code == 404
    assert client.get(f"/v2/team/app/manifests/{digests['new']}").status_code == 200


def test_a_deleted_manifest_is_marked_deleted_and_its_tags_recorded_in_history(
    client: TestClient,
) -> None:
    digests = shared_manifest_repository(client)
    run(client, create_policy(client, KEEP_LATEST_SEMVER))
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        deleted_at = connection.scalar(
            select(Manifest.deleted_at).where(Manifest.digest == digests["old"])
        )
        history = connection.execute(
            select(TagHistory.tag, TagHistory.operation, TagHistory.actor).where(
                TagHistory.new_digest.is_(None)
            )
        ).all()
    assert deleted_at is not None  # kept, restorable from history until GC reclaims it
    assert sorted(history) == [
        ("1.0.0", "retention", "retention:cleanup"),
        ("build-1", "retention", "retention:cleanup"),
        ("build-2", "retention", "retention:cleanup"),
    ]


def test_a_run_emits_the_tag_and_manifest_events_and_its_own(
    client: TestClient, events: list[Event]
) -> None:
    digests = shared_manifest_repository(client)
    run(client, create_policy(client, KEEP_LATEST_SEMVER))
    deleted = [(e.type, e.tag or e.digest) for e in events if e.actor == "retention:cleanup"]
    assert sorted(deleted[:-1]) == [
        (EventType.MANIFEST_DELETED, digests["old"]),
        (EventType.TAG_DELETED, "1.0.0"),
        (EventType.TAG_DELETED, "build-1"),
        (EventType.TAG_DELETED, "build-2"),
    ]
    finished = events[-1]
    assert finished.type == EventType.RETENTION_RUN_FINISHED
    assert (finished.project, finished.subject, finished.operation) == ("team", "cleanup", "run")


def test_the_children_of_a_kept_index_are_kept(client: TestClient) -> None:
    make_project(client, "team")
    amd, arm = push_image(client, "team/multi"), push_image(client, "team/multi")
    index = push_index(client, "team/multi", [amd, arm], "1.0.0")
    old = push_image(client, "team/multi", "0.9.0")
    rules = {"filters": {"untagged_days": 0}, "keep": {"latest": {"count": 1}}}
    result = run(client, create_policy(client, rules))
    assert decisions(result, "manifests") == {
        index.digest: ("keep", "tag_kept"),
        amd.digest: ("keep", "index_child"),
        arm.digest: ("keep", "index_child"),
        old.digest: ("delete", "no_tag_kept"),
    }
    assert client.get(f"/v2/team/multi/manifests/{amd.digest}").status_code == 200


def test_only_the_repositories_the_policy_names_are_touched(client: TestClient) -> None:
    make_project(client, "team")
    push_image(client, "team/app", "old")
    push_image(client, "team/web", "old")
    run(client, create_policy(client, {}, repository="web"))
    assert tags_of(client, "team/app") == ["old"]
    assert client.get("/v2/team/web/tags/list").json()["tags"] == []


def test_an_immutable_tag_is_kept_by_the_dry_run_and_the_run_alike(client: TestClient) -> None:
    digests = shared_manifest_repository(client)
    rule = {"kind": "semver", "pattern": "1.x"}
    assert client.post(f"{API}/projects/team/immutability-rules", json=rule).status_code == 201
    policy = create_policy(client, KEEP_LATEST_SEMVER)
    planned = run(client, policy, dry_run=True)
    done = run(client, policy)
    assert done["tags"] == planned["tags"] and done["manifests"] == planned["manifests"]
    assert decisions(done, "tags")["1.0.0"] == ("keep", "immutable")
    assert decisions(done, "manifests")[digests["old"]] == ("keep", "tag_kept")
    assert sorted(tags_of(client, "team/app")) == ["1.0.0", "2.0.0"]


def test_a_tag_made_immutable_during_a_run_is_kept_without_failing_it(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    digests = shared_manifest_repository(client)
    metadata = client.app.state.registry.metadata  # type: ignore[attr-defined]
    delete_tag = metadata.delete_tag

    def refuse_releases(name: str, tag: str, *args: Any, **kwargs: Any) -> str | None:
        if tag == "1.0.0":  # a rule made after the plan: the store refuses the delete
            raise TagImmutable(name, tag, 7, "rule 7 (glob 1.*) of project team")
        return delete_tag(name, tag, *args, **kwargs)

    monkeypatch.setattr(metadata, "delete_tag", refuse_releases)
    result = run(client, create_policy(client, KEEP_LATEST_SEMVER))
    assert decisions(result, "tags")["1.0.0"] == ("keep", "immutable")
    assert decisions(result, "manifests")[digests["old"]] == ("keep", "tag_kept")
    assert sorted(tags_of(client, "team/app")) == ["1.0.0", "2.0.0"]


def test_runs_are_listed_newest_first_with_their_results(client: TestClient) -> None:
    shared_manifest_repository(client)
    policy = create_policy(client, KEEP_LATEST_SEMVER)
    run(client, policy, dry_run=True)
    run(client, policy)
    runs = client.get(f"{POLICIES}/{policy['id']}/runs").json()["items"]
    assert [r["payload"].get("dry_run", False) for r in runs] == [False, True]
    assert all(r["kind"] == "retention.run" and r["created_by"] == "admin" for r in runs)
    assert runs[0]["result"]["summary"]["tags_deleted"] == 3


# -- schedules -------------------------------------------------------------------------------


@pytest.fixture
def second_node(settings: Settings) -> Iterator[TestClient]:
    """Another node on the same database (and data directory), with its own scheduler."""
    with TestClient(create_app(settings, Dispatcher())) as node:
        node.auth = ADMIN
        yield node


def test_a_scheduled_run_happens_once_with_two_nodes_racing(
    client: TestClient, second_node: TestClient
) -> None:
    shared_manifest_repository(client)
    policy = create_policy(client, KEEP_LATEST_SEMVER, schedule="0 3 * * *")
    assert policy["next_run_at"] is not None
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:  # it is 3 o'clock: both nodes' schedulers see it due
        connection.execute(update(Schedule).values(next_run_at=utcnow() - timedelta(seconds=1)))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and tags_of(client, "team/app") != ["2.0.0"]:
        time.sleep(0.05)
    time.sleep(0.5)  # several more polls of both schedulers
    runs = client.get(f"{POLICIES}/{policy['id']}/runs").json()["items"]
    assert len(runs) == 1 and runs[0]["created_by"] is None
    assert wait_for(client, runs[0]["id"])["result"]["summary"]["tags_deleted"] == 3
    later = client.get(f"{POLICIES}/{policy['id']}").json()["next_run_at"]
    assert later > utcnow().isoformat()


def test_a_policy_without_schedule_or_disabled_has_no_next_run(client: TestClient) -> None:
    make_project(client, "team")
    policy = create_policy(client, {}, schedule="*/10 * * * *", enabled=False)
    assert policy["next_run_at"] is None
    body = {"name": "cleanup", "schedule": "*/10 * * * *", "rules": {}}
    enabled = client.put(f"{POLICIES}/{policy['id']}", json=body).json()
    assert enabled["next_run_at"] is not None and enabled["enabled"] is True


# -- policies --------------------------------------------------------------------------------


def test_policies_are_created_listed_changed_and_deleted(
    client: TestClient, events: list[Event]
) -> None:
    make_project(client, "team")
    policy = create_policy(client, {"keep": {"latest": {"count": 5}}}, repository="app*")
    assert policy["rules"]["keep"]["latest"] == {"count": 5, "by": "semver", "prereleases": False}
    assert policy["created_by"] == "admin" and policy["project"] == "team"
    assert [p["name"] for p in client.get(POLICIES).json()["items"]] == ["cleanup"]
    body = {"name": "renamed", "rules": {"keep": {"pushed_within_days": 30}}}
    changed = client.put(f"{POLICIES}/{policy['id']}", json=body).json()
    assert changed["name"] == "renamed" and changed["repository"] == "**"
    assert client.delete(f"{POLICIES}/{policy['id']}").status_code == 204
    assert is_problem(client.get(f"{POLICIES}/{policy['id']}"), 404)
    assert [e.type for e in events if e.project == "team"][-3:] == [
        EventType.RETENTION_POLICY_CREATED,
        EventType.RETENTION_POLICY_UPDATED,
        EventType.RETENTION_POLICY_DELETED,
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule": "every night"}, "schedule"),
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"rules": {"filters": {"tag_regex": "(unclosed"}}}, "rules.filters.tag_regex"),
        ({"rules": {"filters": {"semver": "^^1"}}}, "rules.filters.semver"),
        ({"rules": {"keep": {"latest": {"count": -1}}}}, "rules.keep.latest.count"),
        ({"rules": {"keep": {"forever": True}}}, "rules.keep.forever"),
    ],
)
def test_a_bad_policy_is_refused_naming_what_is_wrong(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    make_project(client, "team")
    response = client.post(POLICIES, json={"name": "bad", **body})
    assert is_problem(response, 422)
    assert response.json()["detail"].startswith(f"{field}: ")
    assert response.json()["errors"][0]["loc"] == ["body", *field.split(".")]


def test_a_policy_name_is_unique_in_its_project(client: TestClient) -> None:
    make_project(client, "team")
    create_policy(client, {})
    assert is_problem(client.post(POLICIES, json={"name": "cleanup"}), 409)


def test_a_policy_of_another_project_is_not_found_here(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "other")
    other = client.post(f"{API}/projects/other/retention-policies", json={"name": "x"}).json()
    assert is_problem(client.get(f"{POLICIES}/{other['id']}"), 404)
    assert is_problem(client.post(f"{POLICIES}/{other['id']}/run", json={}), 404)


def test_developers_may_read_policies_and_maintainers_may_run_them(client: TestClient) -> None:
    alice, bob = make_user(client, "alice"), make_user(client, "bob")
    make_project(client, "team")
    add_member(client, "team", "alice", "developer")
    add_member(client, "team", "bob", "maintainer")
    policy = create_policy(client, {})
    assert client.get(POLICIES, auth=alice).status_code == 200
    assert is_problem(client.post(POLICIES, json={"name": "x"}, auth=alice), 403)
    assert is_problem(client.post(f"{POLICIES}/{policy['id']}/run", auth=alice), 403)
    response = client.post(f"{POLICIES}/{policy['id']}/run", json={"dry_run": True}, auth=bob)
    assert response.status_code == 200 and response.json()["created_by"] == "bob"


# -- /jobs -----------------------------------------------------------------------------------


def test_jobs_are_for_administrators_and_filtered_by_kind_and_status(client: TestClient) -> None:
    shared_manifest_repository(client)
    policy = create_policy(client, {})
    run(client, policy, dry_run=True)
    jobs = client.get(f"{API}/jobs", params={"kind": "retention.run", "status": "succeeded"})
    assert [j["target"] for j in jobs.json()["items"]] == [f"retention-policy:{policy['id']}"]
    assert client.get(f"{API}/jobs", params={"status": "failed"}).json()["items"] == []
    assert is_problem(client.get(f"{API}/jobs", params={"status": "bogus"}), 422)
    assert is_problem(client.get(f"{API}/jobs/999999"), 404)
    alice = make_user(client, "alice")
    assert is_problem(client.get(f"{API}/jobs", auth=alice), 403)


def test_the_deletes_of_a_run_leave_a_tag_that_moved_and_an_artifact_tagged_meanwhile(
    client: TestClient,
) -> None:
    make_project(client, "team")
    first = push_image(client, "team/app", "1.0.0")
    second = push_image(client, "team/app", "2.0.0")
    metadata = client.app.state.registry.metadata  # type: ignore[attr-defined]
    # Planned when 1.0.0 pointed at `second`; it points at `first` now: not deleted.
    assert metadata.delete_tag("team/app", "1.0.0", expected_digest=second.digest) is None
    # Planned when `first` was untagged; 1.0.0 points at it now: not deleted.
    assert metadata.delete_manifest("team/app", first.digest, only_untagged=True) is None
    assert sorted(tags_of(client, "team/app")) == ["1.0.0", "2.0.0"]
    assert metadata.delete_tag("team/app", "1.0.0", expected_digest=first.digest) == first.digest
    assert metadata.delete_manifest("team/app", first.digest, only_untagged=True) == []
