"""/projects/{project}/members: users and groups with roles."""

from __future__ import annotations

from sqlalchemy import insert, select
from starlette.testclient import TestClient

from cargobay.metadata.models import Group, GroupMember, User

from .helpers import API, add_member, is_problem, make_project, make_user


def test_members_are_added_listed_changed_and_removed(client: TestClient) -> None:
    make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "alice", "guest")
    url = f"{API}/projects/team/members"
    listed = client.get(url).json()["items"]
    assert [(m["kind"], m["name"], m["role"]) for m in listed] == [
        ("user", "admin", "admin"),  # who created the project
        ("user", "alice", "guest"),
    ]
    changed = client.patch(f"{url}/user/alice", json={"role": "maintainer"})
    assert changed.json()["role"] == "maintainer"
    assert client.delete(f"{url}/user/alice").status_code == 204
    assert [m["name"] for m in client.get(url).json()["items"]] == ["admin"]


def test_adding_a_member_twice_is_a_conflict(client: TestClient) -> None:
    make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "alice", "guest")
    again = client.post(f"{API}/projects/team/members", json={"name": "alice", "role": "developer"})
    assert is_problem(again, 409)


def test_an_unknown_role_or_user_is_refused(client: TestClient) -> None:
    make_user(client, "alice")
    make_project(client, "team")
    url = f"{API}/projects/team/members"
    assert is_problem(client.post(url, json={"name": "alice", "role": "owner"}), 422)
    assert is_problem(client.post(url, json={"name": "nobody", "role": "guest"}), 404)


def test_a_role_takes_effect_on_v2_at_once(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "team")
    assert client.get("/v2/team/app/tags/list", auth=alice).status_code == 403
    add_member(client, "team", "alice", "guest")
    assert client.get("/v2/team/app/tags/list", auth=alice).status_code == 404  # allowed, empty
    client.delete(f"{API}/projects/team/members/user/alice")
    assert client.get("/v2/team/app/tags/list", auth=alice).status_code == 403


def test_a_group_member_gives_its_users_the_role(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "developers", "developer", kind="group")
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        user_id = connection.scalar(select(User.id).where(User.name == "alice"))
        group_id = connection.scalar(select(Group.id).where(Group.name == "developers"))
        connection.execute(insert(GroupMember).values(group_id=group_id, user_id=user_id))
    client.app.state.access.cache.invalidate()  # type: ignore[attr-defined]
    assert client.get(f"{API}/whoami", auth=alice).json()["roles"] == {"team": "developer"}
    assert client.get(f"{API}/projects/team/members/group/developers").status_code == 200


def test_a_member_manager_is_needed_to_add_members(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "alice", "maintainer")
    response = client.post(
        f"{API}/projects/team/members", json={"name": "alice", "role": "admin"}, auth=alice
    )
    assert is_problem(response, 403)
