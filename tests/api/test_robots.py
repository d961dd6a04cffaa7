"""Robot accounts: secrets shown once, grants limited to their project, revocation at once."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from conformance.helpers import push_image

from .helpers import API, is_problem, make_project

ROBOTS = f"{API}/projects/team/robots"


def _robot(client: TestClient, **body: object) -> dict:
    response = client.post(ROBOTS, json={"name": "ci", **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_project_robot_is_named_after_its_project_and_shown_its_secret_once(
    client: TestClient,
) -> None:
    make_project(client, "team")
    created = _robot(client)
    assert created["name"] == "team+ci" and created["secret"].startswith("cbr_")
    listed = client.get(ROBOTS)
    shown = client.get(f"{ROBOTS}/ci")
    for response in (listed, shown):
        assert created["secret"] not in response.text and "secret" not in response.json()
    assert [r["name"] for r in listed.json()["items"]] == ["team+ci"]


def test_a_robot_pushes_and_pulls_with_its_secret(client: TestClient) -> None:
    make_project(client, "team")
    secret = _robot(client)["secret"]
    client.auth = ("team+ci", secret)
    push_image(client, "team/app", "v1")
    assert client.get("/v2/team/app/manifests/v1").status_code == 200


def test_a_revoked_robot_is_refused_at_the_next_request(client: TestClient) -> None:
    make_project(client, "team")
    secret = _robot(client)["secret"]
    robot = ("team+ci", secret)
    assert client.get("/v2/team/app/tags/list", auth=robot).status_code == 404
    assert client.post(f"{ROBOTS}/ci/revoke").json()["revoked"] is True
    assert client.get("/v2/team/app/tags/list", auth=robot).status_code == 401
    assert is_problem(client.get(f"{API}/whoami", auth=robot), 401)


def test_a_regenerated_secret_replaces_the_old_one(client: TestClient) -> None:
    make_project(client, "team")
    old = _robot(client)["secret"]
    new = client.post(f"{ROBOTS}/ci/secret").json()["secret"]
    assert new != old
    assert client.get(f"{API}/whoami", auth=("team+ci", old)).status_code == 401
    assert client.get(f"{API}/whoami", auth=("team+ci", new)).status_code == 200


def test_a_project_robot_may_not_be_granted_another_project(client: TestClient) -> None:
    make_project(client, "team")
    body = {"permissions": [{"project": "other", "actions": ["pull"]}]}
    assert is_problem(client.post(ROBOTS, json={"name": "ci", **body}), 422)
    star = {"permissions": [{"project": "*", "actions": ["pull"]}]}
    assert is_problem(client.post(ROBOTS, json={"name": "ci", **star}), 422)


def test_an_unknown_action_or_a_past_expiry_is_refused(client: TestClient) -> None:
    make_project(client, "team")
    unknown = {"name": "ci", "permissions": [{"project": "team", "actions": ["fly"]}]}
    assert is_problem(client.post(ROBOTS, json=unknown), 422)
    past = {"name": "ci", "expires_at": "2000-01-01T00:00:00Z"}
    assert is_problem(client.post(ROBOTS, json=past), 422)


def test_a_robots_permissions_and_description_are_updated(client: TestClient) -> None:
    make_project(client, "team")
    _robot(client)
    body = {"description": "nightly", "permissions": [{"project": "team", "actions": ["pull"]}]}
    updated = client.patch(f"{ROBOTS}/team+ci", json=body).json()
    assert updated["description"] == "nightly"
    assert updated["permissions"] == [{"project": "team", "actions": ["pull"]}]


def test_a_deleted_robot_is_gone(client: TestClient) -> None:
    make_project(client, "team")
    _robot(client)
    assert client.delete(f"{ROBOTS}/ci").status_code == 204
    assert is_problem(client.get(f"{ROBOTS}/ci"), 404)


def test_system_robots_may_act_in_every_project(client: TestClient) -> None:
    make_project(client, "team")
    body = {"name": "backup", "permissions": [{"project": "*", "actions": ["pull", "list"]}]}
    created = client.post(f"{API}/robots", json=body)
    assert created.status_code == 201 and created.json()["project"] is None
    push_image(client, "team/app", "v1")
    robot = ("backup", created.json()["secret"])
    assert client.get("/v2/team/app/manifests/v1", auth=robot).status_code == 200
    assert [r["name"] for r in client.get(f"{API}/robots").json()["items"]] == ["backup"]


def test_robot_secrets_never_reach_the_logs(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    make_project(client, "team")
    secret = _robot(client)["secret"]
    client.get("/v2/", auth=("team+ci", secret))
    client.get("/v2/", auth=("team+ci", secret + "x"))
    assert secret not in caplog.text
