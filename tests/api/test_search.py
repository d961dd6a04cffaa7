"""/search: artifacts by repository, tag, label and annotation, only where the caller may list."""

from __future__ import annotations

from starlette.testclient import TestClient

from conformance.helpers import push_image

from .helpers import API, add_member, is_problem, make_project, make_user

SEARCH = f"{API}/search"
VERSION = "org.opencontainers.image.version"
SOURCE = "org.opencontainers.image.source"


def _found(client: TestClient, auth: object = None, **params: object) -> list[tuple[str, list]]:
    options = {"auth": auth} if auth is not None else {}
    response = client.get(SEARCH, params=params, **options)
    assert response.status_code == 200, response.text
    return [(item["repository"], item["tags"]) for item in response.json()["items"]]


def _label(client: TestClient, repository: str, digest: str, key: str, value: str) -> None:
    project = repository.split("/")[0]
    path = f"{API}/projects/{project}/repositories/{repository}/artifacts/{digest}/labels/{key}"
    assert client.put(path, json={"value": value}).status_code == 204


def test_search_by_repository_name_finds_its_artifacts(client: TestClient) -> None:
    make_project(client, "team")
    push_image(client, "team/frontend", "v1")
    push_image(client, "team/backend", "v1")
    assert _found(client, repository="front") == [("team/frontend", ["v1"])]


def test_search_by_tag_takes_a_glob_or_a_part(client: TestClient) -> None:
    make_project(client, "team")
    push_image(client, "team/app", "v1.2.0")
    push_image(client, "team/app", "v1.10.0")
    push_image(client, "team/app", "V2-rc")
    assert _found(client, tag="v1.*") == [("team/app", ["v1.10.0"]), ("team/app", ["v1.2.0"])]
    assert _found(client, tag="rc") == [("team/app", ["V2-rc"])]
    assert _found(client, tag="v2*") == []  # case matters, on every database


def test_search_by_label_matches_key_and_value(client: TestClient) -> None:
    make_project(client, "team")
    gold = push_image(client, "team/app", "v1")
    silver = push_image(client, "team/app", "v2")
    _label(client, "team/app", gold.digest, "tier", "gold")
    _label(client, "team/app", silver.digest, "tier", "silver")
    assert _found(client, label="tier=gold") == [("team/app", ["v1"])]
    assert _found(client, label="tier") == [("team/app", ["v2"]), ("team/app", ["v1"])]


def test_search_by_annotation_returns_the_annotations(client: TestClient) -> None:
    make_project(client, "team")
    annotations = {VERSION: "1.2.3", SOURCE: "https://example.com/app", "com.example.x": "y"}
    image = push_image(client, "team/app", "v1", annotations=annotations)
    push_image(client, "team/app", "v2", annotations={VERSION: "2.0.0"})
    response = client.get(SEARCH, params={"annotation": f"{VERSION}=1.2.3"}).json()
    [item] = response["items"]
    assert item["digest"] == image.digest
    # Only the org.opencontainers.image.* annotations are kept for search.
    assert item["annotations"] == {VERSION: "1.2.3", SOURCE: "https://example.com/app"}
    assert _found(client, annotation="version=2.0.0") == [("team/app", ["v2"])]  # short form


def test_every_filter_must_match(client: TestClient) -> None:
    make_project(client, "team")
    one = push_image(client, "team/app", "v1", annotations={VERSION: "1"})
    two = push_image(client, "team/web", "v1", annotations={VERSION: "1"})
    _label(client, "team/app", one.digest, "qa", "ok")
    _label(client, "team/web", two.digest, "qa", "failed")
    found = _found(client, repository="team", tag="v1", label="qa=ok", annotation="version=1")
    assert found == [("team/app", ["v1"])]


def test_results_come_in_pages(client: TestClient) -> None:
    make_project(client, "team")
    for tag in ("a", "b", "c"):
        push_image(client, "team/app", tag)
    first = client.get(SEARCH, params={"limit": 2})
    assert [i["tags"] for i in first.json()["items"]] == [["c"], ["b"]]
    assert 'rel="next"' in first.headers["link"]
    rest = client.get(SEARCH, params={"limit": 2, "after": first.json()["next"]}).json()
    assert [i["tags"] for i in rest["items"]] == [["a"]] and rest["next"] is None


def test_a_private_project_is_never_searched_for_a_non_member(client: TestClient) -> None:
    make_project(client, "secret")
    make_project(client, "open", public=True)
    make_project(client, "mine")
    push_image(client, "secret/app", "v1")
    push_image(client, "open/app", "v1")
    push_image(client, "mine/app", "v1")
    alice = make_user(client, "alice")
    add_member(client, "mine", "alice", "guest")
    assert _found(client, alice, q="app") == [("mine/app", ["v1"]), ("open/app", ["v1"])]
    assert _found(client, alice, repository="secret") == []
    assert _found(client, alice, tag="v1") == [("mine/app", ["v1"]), ("open/app", ["v1"])]


def test_anonymous_callers_search_public_projects_only(client: TestClient) -> None:
    make_project(client, "secret")
    make_project(client, "open", public=True)
    push_image(client, "secret/app", "v1")
    push_image(client, "open/app", "v1")
    response = client.get(SEARCH, auth=None, headers={"Authorization": ""})
    assert response.status_code == 200
    assert [i["repository"] for i in response.json()["items"]] == ["open/app"]


def test_wrong_credentials_are_refused_not_taken_as_anonymous(client: TestClient) -> None:
    assert is_problem(client.get(SEARCH, auth=("admin", "wrong")), 401)


def test_an_administrator_searches_everything(client: TestClient) -> None:
    make_project(client, "secret")
    push_image(client, "secret/app", "v1")
    push_image(client, "busybox", "latest")  # project library
    assert sorted(_found(client)) == [("busybox", ["latest"]), ("secret/app", ["v1"])]


def test_deleted_artifacts_are_not_found(client: TestClient) -> None:
    make_project(client, "team")
    image = push_image(client, "team/app", "v1")
    client.delete(f"{API}/projects/team/repositories/team/app/artifacts/{image.digest}")
    assert _found(client, repository="app") == []


def test_bad_filters_get_a_problem(client: TestClient) -> None:
    assert is_problem(client.get(SEARCH, params={"label": "Bad Key=x"}), 422)
    assert is_problem(client.get(SEARCH, params={"annotation": "com.example.x=1"}), 422)
    assert is_problem(client.get(SEARCH, params={"tag": "v1;drop"}), 422)
    assert is_problem(client.get(SEARCH, params={"after": "x"}), 422)
    assert is_problem(client.get(SEARCH, params={"limit": 0}), 422)
