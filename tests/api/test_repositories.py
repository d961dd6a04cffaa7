"""/projects/{project}/repositories and their artifacts."""

from __future__ import annotations

from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from conformance.helpers import push_image

from .helpers import API, add_member, is_problem, make_project, make_user

REPOS = f"{API}/projects/team/repositories"


def test_repositories_are_listed_with_tag_counts_and_last_push(client: TestClient) -> None:
    make_project(client, "team")
    push_image(client, "team/app", "v1")
    push_image(client, "team/app", "v2")
    push_image(client, "team/web", "v1")
    items = client.get(REPOS).json()["items"]
    assert [(r["name"], r["tag_count"], r["artifact_count"]) for r in items] == [
        ("team/app", 2, 2),
        ("team/web", 1, 1),
    ]
    assert items[0]["last_pushed_at"] is not None
    assert client.get(f"{REPOS}/team/app").json()["tag_count"] == 2


def test_artifacts_are_listed_newest_first_with_their_tags(client: TestClient) -> None:
    make_project(client, "team")
    first = push_image(client, "team/app", "v1")
    second = push_image(client, "team/app", "v2")
    page = client.get(f"{REPOS}/team/app/artifacts", params={"limit": 1}).json()
    assert [(a["digest"], a["tags"]) for a in page["items"]] == [(second.digest, ["v2"])]
    rest = client.get(f"{REPOS}/team/app/artifacts", params={"after": page["next"]}).json()
    assert [a["digest"] for a in rest["items"]] == [first.digest]
    shown = client.get(f"{REPOS}/team/app/artifacts/{first.digest}").json()
    assert shown["media_type"] == first.media_type and shown["size"] == len(first.body)


def test_deleting_an_artifact_goes_through_the_registry(
    client: TestClient, events: list[Event]
) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "v1")
    assert client.delete(f"{REPOS}/team/app/artifacts/{image.digest}").status_code == 204
    assert events[-1].type == EventType.MANIFEST_DELETED
    assert client.get("/v2/team/app/manifests/v1").status_code == 404


def test_a_bad_digest_is_a_client_error(client: TestClient) -> None:
    make_project(client, "team")
    push_image(client, "team/app", "v1")
    assert is_problem(client.delete(f"{REPOS}/team/app/artifacts/v1"), 400)
    assert is_problem(client.get(f"{REPOS}/team/app/artifacts/sha256:abc"), 400)


def test_a_repository_of_another_project_is_not_found_here(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "other")
    push_image(client, "other/app", "v1")
    assert is_problem(client.get(f"{REPOS}/other/app"), 404)


def test_deleting_a_repository_removes_it(client: TestClient) -> None:
    make_project(client, "team")
    push_image(client, "team/app", "v1")
    assert client.delete(f"{REPOS}/team/app").status_code == 204
    assert client.get(REPOS).json()["items"] == []


def test_a_developer_may_list_but_not_delete_artifacts(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "alice", "developer")
    image = push_image(client, "team/app", "v1")
    assert client.get(REPOS, auth=alice).status_code == 200
    response = client.delete(f"{REPOS}/team/app/artifacts/{image.digest}", auth=alice)
    assert is_problem(response, 403)
