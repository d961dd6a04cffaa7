"""/users/me/tokens: personal access tokens, narrowed to projects and actions."""

from __future__ import annotations

from starlette.testclient import TestClient

from conformance.helpers import push_image

from .helpers import API, add_member, is_problem, make_project, make_user

TOKENS = f"{API}/users/me/tokens"


def _token(client: TestClient, auth: tuple[str, str], actions: list[str]) -> str:
    body = {"name": "laptop", "permissions": [{"project": "team", "actions": actions}]}
    response = client.post(TOKENS, json=body, auth=auth)
    assert response.status_code == 201, response.text
    return response.json()["secret"]


def test_a_token_is_shown_once_and_listed_without_its_secret(client: TestClient) -> None:
    alice = make_user(client, "alice")
    secret = _token(client, alice, ["pull"])
    assert secret.startswith("cbt_")
    listed = client.get(TOKENS, auth=alice)
    assert [t["name"] for t in listed.json()["items"]] == ["laptop"]
    assert secret not in listed.text and "secret" not in listed.json()["items"][0]


def test_a_token_acts_within_its_grants_and_its_users_role(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "alice", "developer")
    push_image(client, "team/app", "v1")
    token = ("alice", _token(client, alice, ["pull", "push"]))
    assert client.get("/v2/team/app/manifests/v1", auth=token).status_code == 200
    # listing was not granted to the token, though alice's role has it
    assert client.get("/v2/team/app/tags/list", auth=token).status_code == 403


def test_a_revoked_token_is_refused_at_the_next_request(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "alice", "guest")
    token = ("alice", _token(client, alice, ["pull"]))
    assert client.get(f"{API}/whoami", auth=token).json()["token"] is True
    assert client.post(f"{TOKENS}/laptop/revoke", auth=alice).json()["revoked"] is True
    assert is_problem(client.get(f"{API}/whoami", auth=token), 401)
    assert client.get("/v2/", auth=token).status_code == 401


def test_a_token_cannot_manage_tokens_or_users(client: TestClient) -> None:
    alice = make_user(client, "alice")
    token = ("alice", _token(client, alice, ["pull"]))
    assert is_problem(client.get(TOKENS, auth=token), 403)


def test_tokens_must_name_projects(client: TestClient) -> None:
    alice = make_user(client, "alice")
    body = {"name": "all", "permissions": [{"project": "*", "actions": ["pull"]}]}
    assert is_problem(client.post(TOKENS, json=body, auth=alice), 422)


def test_a_deleted_token_is_gone(client: TestClient) -> None:
    alice = make_user(client, "alice")
    _token(client, alice, ["pull"])
    assert client.delete(f"{TOKENS}/laptop", auth=alice).status_code == 204
    assert is_problem(client.get(f"{TOKENS}/laptop", auth=alice), 404)


def test_a_tokens_last_use_is_recorded(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_project(client, "team")
    add_member(client, "team", "alice", "guest")
    token = ("alice", _token(client, alice, ["pull"]))
    assert client.get(TOKENS, auth=alice).json()["items"][0]["last_used_at"] is None
    assert client.get("/v2/", auth=token).status_code == 200
    # Uses are written in batches off the request path; the server flushes them every 30 s.
    client.portal.call(client.app.state.access.flush_usage)  # type: ignore[union-attr]
    assert client.get(TOKENS, auth=alice).json()["items"][0]["last_used_at"] is not None
