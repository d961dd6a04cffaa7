"""/projects: creation, visibility, and deletion with the project's repositories."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from conformance.helpers import push_image
from liveserver import ADMIN

from .helpers import API, add_member, is_problem, make_project, make_user


def test_an_admin_creates_updates_and_deletes_a_project(client: TestClient) -> None:
    make_project(client, "team")
    shown = client.get(f"{API}/projects/team").json()
    assert (shown["public"], shown["created_by"]) == (False, ADMIN[0])
    changed = client.patch(f"{API}/projects/team", json={"public": True, "description": "ours"})
    assert (changed.json()["public"], changed.json()["description"]) == (True, "ours")
    assert client.delete(f"{API}/projects/team").status_code == 204
    assert is_problem(client.get(f"{API}/projects/team"), 404)


def test_deleting_a_project_deletes_its_repositories(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "other")
    push_image(client, "team/app", "v1")
    push_image(client, "other/app", "v1")
    assert client.delete(f"{API}/projects/team").status_code == 204
    assert client.get("/v2/team/app/manifests/v1").status_code == 404
    assert client.get("/v2/other/app/manifests/v1").status_code == 200
    assert "team/app" not in client.get("/v2/_catalog").json()["repositories"]


def test_deleting_library_deletes_the_repositories_without_a_slash(client: TestClient) -> None:
    make_project(client, "library")
    push_image(client, "busybox", "v1")
    client.delete(f"{API}/projects/library")
    assert client.get("/v2/busybox/manifests/v1").status_code == 404


def test_users_list_only_the_projects_they_can_see(client: TestClient) -> None:
    alice = make_user(client, "alice")
    for name, public in (("mine", False), ("open", True), ("secret", False)):
        make_project(client, name, public=public)
    add_member(client, "mine", "alice", "guest")
    names = [p["name"] for p in client.get(f"{API}/projects", auth=alice).json()["items"]]
    assert names == ["mine", "open"]


def test_a_private_project_is_not_found_for_outsiders(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "secret")
    assert is_problem(client.get(f"{API}/projects/secret", auth=alice), 404)
    assert is_problem(client.delete(f"{API}/projects/secret", auth=alice), 404)


def test_a_member_without_the_action_is_forbidden(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "alice", "developer")
    assert client.get(f"{API}/projects/team", auth=alice).status_code == 200
    assert is_problem(client.patch(f"{API}/projects/team", json={"public": True}, auth=alice), 403)


def test_only_admins_create_projects_without_self_service(client: TestClient) -> None:
    alice = make_user(client, "alice")
    assert is_problem(client.post(f"{API}/projects", json={"name": "x"}, auth=alice), 403)


def test_anonymous_callers_are_asked_to_log_in(client: TestClient) -> None:
    response = client.get(f"{API}/projects", auth=None)
    assert is_problem(response, 401)
    assert "Basic" in response.headers["www-authenticate"]


def test_projects_are_filtered_and_paged(client: TestClient) -> None:
    for name in ("app-a", "app-b", "app-c", "web"):
        make_project(client, name)
    first = client.get(f"{API}/projects", params={"q": "app", "limit": 2}).json()
    assert [p["name"] for p in first["items"]] == ["app-a", "app-b"]
    rest = client.get(f"{API}/projects", params={"q": "app", "after": first["next"]}).json()
    assert [p["name"] for p in rest["items"]] == ["app-c"]


@pytest.mark.parametrize("name", ["Team", "-team", "team/app", "a" * 65, "", "té"])
def test_invalid_project_names_are_refused(client: TestClient, name: str) -> None:
    assert is_problem(client.post(f"{API}/projects", json={"name": name}), 422)


def test_a_duplicate_project_is_a_conflict(client: TestClient) -> None:
    make_project(client, "team")
    assert is_problem(client.post(f"{API}/projects", json={"name": "team"}), 409)
