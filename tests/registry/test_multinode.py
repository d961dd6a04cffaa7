"""Two nodes sharing PostgreSQL, Redis and the token keys: each one's caches see the other's
writes, and each verifies the other's tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cargobay.app import create_app
from cargobay.config import Settings
from conformance.helpers import OCI_MANIFEST, push_image
from liveserver import ADMIN

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def nodes(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, ...]]:
    clients = []
    for node in ("a", "b"):
        settings = Settings(
            data_dir=tmp_path / node,
            database_url=database_url,
            redis_url=REDIS_URL,
            access_log=False,
            admin_password=ADMIN[1],
            auto_create_projects=True,
            token_keys_dir=tmp_path / "token-keys",  # as docs/security.md asks of nodes
        )
        client = TestClient(create_app(settings)).__enter__()
        client.auth = ADMIN
        clients.append(client)
    yield tuple(clients)
    for client in clients:
        client.__exit__(None, None, None)


def pull(client: TestClient, reference: str) -> bytes:
    return client.get(f"/v2/app/manifests/{reference}", headers={"Accept": OCI_MANIFEST}).content


def eventually(check, timeout: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_tag_moved_on_one_node_is_served_moved_by_the_other(
    nodes: tuple[TestClient, TestClient],
) -> None:
    a, b = nodes
    first = push_image(a, "app", "v1")
    assert pull(b, "v1") == first.body
    assert b.app.state.registry.cache.get(("manifest", "app", "v1")) is not None  # cached
    second = push_image(a, "app", "v1")
    assert eventually(lambda: pull(b, "v1") == second.body)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_manifest_deleted_on_one_node_is_gone_on_the_other(
    nodes: tuple[TestClient, TestClient],
) -> None:
    a, b = nodes
    image = push_image(a, "app", "v1")
    assert pull(b, image.digest) == image.body
    assert a.delete(f"/v2/app/manifests/{image.digest}").status_code == 202
    assert eventually(lambda: b.get(f"/v2/app/manifests/{image.digest}").status_code == 404)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_token_issued_by_one_node_is_accepted_by_the_other(
    nodes: tuple[TestClient, TestClient],
) -> None:
    a, b = nodes
    push_image(a, "app", "v1")
    scope = {"service": "cargobay", "scope": "repository:app:pull"}
    token = a.get("/auth/token", params=scope).json()["token"]
    response = b.get(
        "/v2/app/manifests/v1",
        headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST},
        auth=None,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_user_disabled_on_one_node_is_refused_by_the_other(
    nodes: tuple[TestClient, TestClient],
) -> None:
    a, b = nodes
    password = "alice-password"
    created = a.post("/api/v1/users", json={"name": "alice", "password": password})
    assert created.status_code == 201, created.text
    alice = ("alice", password)
    assert b.get("/v2/", auth=alice).status_code == 200  # b now has alice cached
    assert a.patch("/api/v1/users/alice", json={"disabled": True}).status_code == 200
    assert eventually(lambda: b.get("/v2/", auth=alice).status_code == 401)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_restore_on_one_node_is_served_by_the_other(
    nodes: tuple[TestClient, TestClient],
) -> None:
    a, b = nodes
    first = push_image(a, "app", "v1")
    push_image(a, "app", "v1")
    pull(b, "v1")  # b caches the second image
    restore = a.post(
        "/api/v1/projects/library/restore/app", json={"tag": "v1", "digest": first.digest}
    )
    assert restore.status_code == 200, restore.text
    assert eventually(lambda: pull(b, "v1") == first.body)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_immutability_rule_made_on_one_node_is_enforced_by_the_other(
    nodes: tuple[TestClient, TestClient],
) -> None:
    a, b = nodes
    push_image(a, "app", "v1")  # auto-creates project library
    rules = "/api/v1/projects/library/immutability-rules"
    assert a.post(rules, json={"kind": "glob", "pattern": "v*"}).status_code == 201
    refused = b.delete("/v2/app/manifests/v1")
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "DENIED"
