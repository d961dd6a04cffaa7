"""Tag history and restores: /projects/{project}/history/... and /restore/..."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete
from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from cargobay.metadata.models import Manifest as ManifestRow
from conformance.helpers import Manifest, push_image, push_index, put_manifest

from .helpers import API, add_member, is_problem, make_project, make_user

HISTORY = f"{API}/projects/team/history/team/app"
RESTORE = f"{API}/projects/team/restore/team/app"


def changes(client: TestClient, **params: Any) -> list[tuple[Any, ...]]:
    """The repository's history, newest first, as (tag, old, new, operation, actor)."""
    response = client.get(HISTORY, params=params)
    assert response.status_code == 200, response.text
    return [
        (e["tag"], e["old_digest"], e["new_digest"], e["operation"], e["actor"])
        for e in response.json()["items"]
    ]


def tag_to(client: TestClient, image: Manifest, tag: str) -> None:
    response = put_manifest(client, "team/app", tag, image.body, image.media_type)
    assert response.status_code == 201, response.text


def tags_now(client: TestClient) -> dict[str, bytes]:
    """Every tag of team/app with the exact bytes a client pulls for it."""
    listed = client.get("/v2/team/app/tags/list").json()["tags"] or []
    return {tag: client.get(f"/v2/team/app/manifests/{tag}").content for tag in listed}


@pytest.fixture
def team(client: TestClient) -> TestClient:
    make_project(client, "team")
    return client


def test_history_records_pushes_moves_deletes_and_re_pushes(team: TestClient) -> None:
    a = push_image(team, "team/app", "v1")
    b = push_image(team, "team/app", "v1")  # moves v1
    assert team.delete("/v2/team/app/manifests/v1").status_code == 202  # the tag only
    tag_to(team, a, "keep")
    assert team.delete(f"/v2/team/app/manifests/{a.digest}").status_code == 202
    tag_to(team, a, "keep")  # pushed again after its delete
    assert changes(team) == [
        ("keep", None, a.digest, "push", "admin"),
        ("keep", a.digest, None, "delete", "admin"),
        ("keep", None, a.digest, "push", "admin"),
        ("v1", b.digest, None, "delete", "admin"),
        ("v1", a.digest, b.digest, "push", "admin"),
        ("v1", None, a.digest, "push", "admin"),
    ]


def test_a_delete_through_the_api_is_recorded_as_such(team: TestClient) -> None:
    a = push_image(team, "team/app", "v1")
    artifact = f"{API}/projects/team/repositories/team/app/artifacts/{a.digest}"
    assert team.delete(artifact).status_code == 204
    assert changes(team)[0] == ("v1", a.digest, None, "api", "admin")


def test_history_pages_newest_first_and_filters_by_tag(team: TestClient) -> None:
    images = [push_image(team, "team/app", tag) for tag in ("a", "b", "a", "c")]
    first = team.get(HISTORY, params={"limit": 2}).json()
    assert [e["tag"] for e in first["items"]] == ["c", "a"]
    rest = team.get(HISTORY, params={"limit": 2, "after": first["next"]}).json()
    assert [e["tag"] for e in rest["items"]] == ["b", "a"] and rest["next"] is None
    only_a = changes(team, tag="a")
    assert [(old, new) for _, old, new, _, _ in only_a] == [
        (images[0].digest, images[2].digest),
        (None, images[0].digest),
    ]


def test_a_rollback_restores_exactly_the_tags_of_that_time(
    team: TestClient, events: list[Event]
) -> None:
    one = push_image(team, "team/app", "v1")
    two = push_image(team, "team/app", "v2")
    tag_to(team, one, "latest")
    tag_to(team, two, "stable")
    then = tags_now(team)
    at = team.get(HISTORY).json()["items"][0]["at"]  # the last change before: included
    tag_to(team, two, "latest")  # moved
    assert team.delete("/v2/team/app/manifests/v1").status_code == 202  # deleted
    assert team.delete(f"/v2/team/app/manifests/{two.digest}").status_code == 202  # v2, stable
    push_image(team, "team/app", "v3")  # created after
    assert tags_now(team) != then

    response = team.post(RESTORE, json={"at": at})

    assert response.status_code == 200, response.text
    assert tags_now(team) == then
    result = response.json()
    assert result["restored_manifests"] == [two.digest] and result["dry_run"] is False
    assert {c["tag"]: c["new_digest"] for c in result["changes"]} == {
        "latest": one.digest,
        "stable": two.digest,
        "v1": one.digest,
        "v2": two.digest,
        "v3": None,
    }
    assert {entry[3] for entry in changes(team)[:5]} == {"rollback"}
    tag_events = [e for e in events if e.type.startswith("tag.")]
    latest = [e for e in tag_events if e.tag == "latest"][-1]  # deleted with `two`: created again
    assert (latest.type, latest.operation, latest.digest) == (
        EventType.TAG_CREATED,
        "rollback",
        one.digest,
    )
    gone = [e for e in tag_events if e.tag == "v3"][-1]
    assert (gone.type, gone.operation) == (EventType.TAG_DELETED, "rollback")
    assert any(e.type == EventType.MANIFEST_RESTORED and e.digest == two.digest for e in events)


def test_a_dry_run_tells_what_would_change_and_changes_nothing(team: TestClient) -> None:
    one = push_image(team, "team/app", "v1")
    at = team.get(HISTORY).json()["items"][0]["at"]
    two = push_image(team, "team/app", "v1")
    before = changes(team)
    response = team.post(RESTORE, json={"at": at, "dry_run": True})
    assert response.json()["changes"] == [
        {"tag": "v1", "old_digest": two.digest, "new_digest": one.digest}
    ]
    assert response.json()["dry_run"] is True
    assert tags_now(team)["v1"] == two.body and changes(team) == before


def test_a_time_before_a_tag_existed_deletes_it(team: TestClient) -> None:
    push_image(team, "team/app", "old")
    at = team.get(HISTORY).json()["items"][0]["at"]
    push_image(team, "team/app", "new")
    assert team.post(RESTORE, json={"at": at}).status_code == 200
    assert sorted(tags_now(team)) == ["old"]


def test_one_tag_is_restored_to_an_earlier_digest(team: TestClient) -> None:
    one = push_image(team, "team/app", "v1")
    two = push_image(team, "team/app", "v1")
    push_image(team, "team/app", "other")
    response = team.post(RESTORE, json={"tag": "v1", "digest": one.digest})
    assert response.json()["changes"] == [
        {"tag": "v1", "old_digest": two.digest, "new_digest": one.digest}
    ]
    assert team.get("/v2/team/app/manifests/v1").content == one.body
    assert changes(team)[0] == ("v1", two.digest, one.digest, "rollback", "admin")


def test_restoring_a_deleted_manifest_brings_it_back_for_clients(team: TestClient) -> None:
    image = push_image(team, "team/app", "v1")
    assert team.delete(f"/v2/team/app/manifests/{image.digest}").status_code == 202
    assert team.get(f"/v2/team/app/manifests/{image.digest}").status_code == 404
    response = team.post(RESTORE, json={"tag": "v1", "digest": image.digest})
    assert response.json()["restored_manifests"] == [image.digest]
    assert team.get(f"/v2/team/app/manifests/{image.digest}").content == image.body
    document = json.loads(image.body)
    for blob in [document["config"], *document["layers"]]:
        pulled = team.get(f"/v2/team/app/blobs/{blob['digest']}")
        assert pulled.status_code == 200 and len(pulled.content) == blob["size"]


def test_a_restored_index_comes_back_with_its_deleted_children(team: TestClient) -> None:
    children = [push_image(team, "team/app") for _ in range(2)]
    index = push_index(team, "team/app", children, "multi")
    for digest in (children[0].digest, index.digest):
        assert team.delete(f"/v2/team/app/manifests/{digest}").status_code == 202
    response = team.post(RESTORE, json={"tag": "multi", "digest": index.digest})
    assert sorted(response.json()["restored_manifests"]) == sorted(
        [index.digest, children[0].digest]
    )
    for manifest in (index, *children):
        assert team.get(f"/v2/team/app/manifests/{manifest.digest}").content == manifest.body


def test_a_restore_answers_from_the_registry_not_its_cache(team: TestClient) -> None:
    one = push_image(team, "team/app", "v1")
    two = push_image(team, "team/app", "v1")
    assert team.get("/v2/team/app/manifests/v1").content == two.body  # cached now
    team.post(RESTORE, json={"tag": "v1", "digest": one.digest})
    assert team.get("/v2/team/app/manifests/v1").content == one.body


def test_a_restore_over_an_immutable_tag_is_refused(team: TestClient) -> None:
    one = push_image(team, "team/app", "v1")
    two = push_image(team, "team/app", "v1")
    rules = f"{API}/projects/team/immutability-rules"
    rule = team.post(rules, json={"kind": "glob", "pattern": "v*"}).json()
    for body in ({"tag": "v1", "digest": one.digest}, {"at": "2000-01-01T00:00:00Z"}):
        response = team.post(RESTORE, json=body)
        assert is_problem(response, 409)
        assert f"rule {rule['id']} (glob v*)" in response.json()["detail"]
        assert team.get("/v2/team/app/manifests/v1").content == two.body


def test_a_manifest_garbage_collection_reclaimed_is_reported_with_its_digest(
    team: TestClient,
) -> None:
    one = push_image(team, "team/app", "v1")
    push_image(team, "team/app", "v1")
    assert team.delete(f"/v2/team/app/manifests/{one.digest}").status_code == 202
    engine = team.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:  # what garbage collection does after the window
        connection.execute(delete(ManifestRow).where(ManifestRow.digest == one.digest))
    response = team.post(RESTORE, json={"tag": "v1", "digest": one.digest})
    assert is_problem(response, 409)
    assert one.digest in response.json()["detail"] and "reclaimed" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"tag": "nope", "at": "2030-01-01T00:00:00Z"}, 404),
        ({"tag": "v1", "digest": "sha256:" + "0" * 64}, 404),
        ({"tag": "v1", "digest": "sha256:abc"}, 400),
        ({"tag": "v1", "digest": "latest"}, 400),
        ({"at": "yesterday"}, 422),
        ({"at": "2030-01-01T00:00:00"}, 422),  # no offset: which time would it be?
        ({"tag": "v1"}, 422),
        ({"digest": "sha256:" + "0" * 64}, 422),
        ({"at": "2030-01-01T00:00:00Z", "digest": "sha256:" + "0" * 64, "tag": "v1"}, 422),
        ({"tag": "bad tag!", "at": "2030-01-01T00:00:00Z"}, 400),
    ],
    ids=[
        "unknown-tag",
        "digest-never-here",
        "short-digest",
        "not-a-digest",
        "bad-time",
        "naive-time",
        "nothing",
        "no-tag",
        "both",
        "bad-tag",
    ],
)
def test_bad_restores_are_clean_problems(
    team: TestClient, body: dict[str, Any], status: int
) -> None:
    push_image(team, "team/app", "v1")
    before = changes(team)
    response = team.post(RESTORE, json=body)
    assert is_problem(response, status), response.text
    assert changes(team) == before


def test_unknown_and_foreign_repositories_are_not_found(team: TestClient) -> None:
    make_project(team, "other")
    push_image(team, "other/app", "v1")
    assert is_problem(team.get(f"{API}/projects/team/history/team/nothing"), 404)
    assert is_problem(team.get(f"{API}/projects/team/history/other/app"), 404)
    at = {"at": "2030-01-01T00:00:00Z"}
    assert is_problem(team.post(f"{API}/projects/team/restore/team/nothing", json=at), 404)
    assert is_problem(team.get(HISTORY, params={"tag": "bad tag"}), 400)


def test_a_repository_named_like_a_route_word_is_just_a_repository(team: TestClient) -> None:
    image = push_image(team, "team/app/restore", "v1")
    items = team.get(f"{API}/projects/team/history/team/app/restore").json()["items"]
    assert [(e["tag"], e["new_digest"]) for e in items] == [("v1", image.digest)]


def test_a_guest_reads_history_a_developer_cannot_restore_a_maintainer_can(
    team: TestClient,
) -> None:
    for name, role in (("gina", "guest"), ("dev", "developer"), ("mona", "maintainer")):
        make_user(team, name)
        add_member(team, "team", name, role)
    one = push_image(team, "team/app", "v1")
    push_image(team, "team/app", "v1")
    assert team.get(HISTORY, auth=("gina", "a-good-password")).status_code == 200
    body = {"tag": "v1", "digest": one.digest}
    assert is_problem(team.post(RESTORE, json=body, auth=("gina", "a-good-password")), 403)
    assert is_problem(team.post(RESTORE, json=body, auth=("dev", "a-good-password")), 403)
    assert team.post(RESTORE, json=body, auth=("mona", "a-good-password")).status_code == 200
    assert changes(team)[0][3:] == ("rollback", "mona")
