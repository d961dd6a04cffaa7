"""/users: administrators manage accounts; users read themselves and set their password."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from liveserver import ADMIN

from .helpers import API, PASSWORD, is_problem, make_user


def test_an_admin_creates_reads_updates_and_deletes_a_user(client: TestClient) -> None:
    make_user(client, "alice")
    assert client.get(f"{API}/users/alice").json()["disabled"] is False
    changed = client.patch(f"{API}/users/alice", json={"email": "alice@example.com"})
    assert changed.json()["email"] == "alice@example.com"
    assert client.delete(f"{API}/users/alice").status_code == 204
    assert is_problem(client.get(f"{API}/users/alice"), 404)


def test_user_responses_never_carry_a_password_or_its_hash(client: TestClient) -> None:
    created = client.post(f"{API}/users", json={"name": "alice", "password": PASSWORD})
    listed = client.get(f"{API}/users")
    for text in (created.text, listed.text, client.get(f"{API}/users/alice").text):
        assert PASSWORD not in text and "argon2" not in text and "password" not in text


def test_users_are_listed_in_pages_with_a_next_link(client: TestClient) -> None:
    for name in ("u1", "u2", "u3"):
        make_user(client, name)
    first = client.get(f"{API}/users", params={"limit": 2, "q": "u"})
    assert [u["name"] for u in first.json()["items"]] == ["u1", "u2"]
    assert first.json()["next"] == "u2" and 'rel="next"' in first.headers["link"]
    second = client.get(f"{API}/users", params={"limit": 2, "q": "u", "after": "u2"})
    assert [u["name"] for u in second.json()["items"]] == ["u3"]
    assert second.json()["next"] is None and "link" not in second.headers


def test_a_user_reads_themselves_but_not_others(client: TestClient) -> None:
    alice = make_user(client, "alice")
    make_user(client, "bob")
    assert client.get(f"{API}/users/alice", auth=alice).status_code == 200
    assert is_problem(client.get(f"{API}/users/bob", auth=alice), 403)
    assert is_problem(client.get(f"{API}/users", auth=alice), 403)


def test_a_user_changes_their_password_with_the_current_one(client: TestClient) -> None:
    alice = make_user(client, "alice")
    url = f"{API}/users/alice/password"
    wrong = client.put(
        url, json={"password": "new-password-1", "current_password": "x"}, auth=alice
    )
    assert is_problem(wrong, 403)
    right = client.put(
        url, json={"password": "new-password-1", "current_password": PASSWORD}, auth=alice
    )
    assert right.status_code == 204
    assert client.get(f"{API}/whoami", auth=("alice", "new-password-1")).status_code == 200
    assert is_problem(client.get(f"{API}/whoami", auth=alice), 401)


def test_a_disabled_user_is_refused_at_the_next_request(client: TestClient) -> None:
    alice = make_user(client, "alice")
    assert client.get(f"{API}/whoami", auth=alice).status_code == 200
    assert client.get("/v2/", auth=alice).status_code == 200
    client.patch(f"{API}/users/alice", json={"disabled": True})
    assert is_problem(client.get(f"{API}/whoami", auth=alice), 401)
    assert client.get("/v2/", auth=alice).status_code == 401


def test_an_admin_cannot_delete_or_disable_themselves(client: TestClient) -> None:
    assert is_problem(client.delete(f"{API}/users/{ADMIN[0]}"), 409)
    assert is_problem(client.patch(f"{API}/users/{ADMIN[0]}", json={"disabled": True}), 409)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Alice", "password": PASSWORD},
        {"name": "a" * 65, "password": PASSWORD},
        {"name": "alice", "password": "short"},
        {"name": "alice", "password": PASSWORD, "email": "not-an-email"},
        {"name": "alice", "password": PASSWORD, "is_admin": "maybe"},
        {"name": "alice", "password": PASSWORD, "unknown": 1},
        {"name": 7, "password": PASSWORD},
        {"password": PASSWORD},
    ],
)
def test_invalid_users_are_refused_with_a_problem(client: TestClient, body: dict) -> None:
    assert is_problem(client.post(f"{API}/users", json=body), 422)


def test_a_duplicate_user_is_a_conflict(client: TestClient) -> None:
    make_user(client, "alice")
    assert is_problem(
        client.post(f"{API}/users", json={"name": "alice", "password": PASSWORD}), 409
    )


def test_passwords_never_reach_the_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post(f"{API}/users", json={"name": "alice", "password": PASSWORD})
    client.post(f"{API}/users", json={"name": "BAD", "password": PASSWORD})
    client.get(f"{API}/whoami", auth=("alice", "wrong-password"))
    assert PASSWORD not in caplog.text and "wrong-password" not in caplog.text
