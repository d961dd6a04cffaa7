"""Project quotas and usage: each blob counted once per project, enforced on push."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from conformance.helpers import (
    build_image,
    digest_of,
    patch_chunk,
    push_blob,
    push_image,
    put_upload,
    random_bytes,
    upload_location,
)

from .helpers import API, add_member, is_problem, make_project, make_user

PROJECT = f"{API}/projects/team"


def _usage(client: TestClient, project: str = "team") -> dict[str, Any]:
    response = client.get(f"{API}/projects/{project}/usage")
    assert response.status_code == 200, response.text
    return response.json()


def _repository_usage(client: TestClient, repository: str) -> dict[str, Any]:
    return client.get(f"{PROJECT}/repositories/{repository}/usage").json()


def _set_quota(client: TestClient, size: int | None) -> None:
    assert client.put(f"{PROJECT}/quota", json={"bytes": size}).status_code == 200


def _fill_to(client: TestClient, quota: int) -> None:
    """Set a quota of `quota` bytes above what the project uses now."""
    _set_quota(client, _usage(client)["used_bytes"] + quota)


def _denied(response: Any) -> str:
    assert response.status_code == 403, response.text
    [error] = response.json()["errors"]
    assert error["code"] == "DENIED"
    return error["message"]


def _linked(client: TestClient, repository: str, digest: str) -> bool:
    return client.head(f"/v2/{repository}/blobs/{digest}").status_code == 200


def test_a_blob_shared_by_repositories_counts_once_in_the_project(client: TestClient) -> None:
    make_project(client, "team")
    layer = random_bytes(1000)
    push_blob(client, "team/a", layer)
    push_blob(client, "team/b", layer)
    response = client.post(f"/v2/team/c/blobs/uploads/?mount={digest_of(layer)}&from=team/a")
    assert response.status_code == 201
    usage = _usage(client)
    assert (usage["used_bytes"], usage["blob_count"], usage["quota_bytes"]) == (1000, 1, None)
    assert _repository_usage(client, "team/b")["used_bytes"] == 1000


def test_usage_adds_manifest_payloads_and_is_per_project(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "other")
    image = push_image(client, "team/app", "v1")
    push_image(client, "other/app", "v1")
    usage = _usage(client)
    assert usage["manifest_bytes"] == len(image.body) and usage["manifest_count"] == 1
    assert usage["used_bytes"] == usage["blob_bytes"] + len(image.body)
    repository = _repository_usage(client, "team/app")
    assert repository["used_bytes"] == usage["used_bytes"]
    assert repository["blob_count"] == 2  # the config and one layer


def test_unlinking_the_last_link_in_the_project_frees_the_bytes(client: TestClient) -> None:
    make_project(client, "team")
    layer = random_bytes(500)
    digest = push_blob(client, "team/a", layer)
    push_blob(client, "team/b", layer)
    assert client.delete(f"/v2/team/a/blobs/{digest}").status_code == 202
    assert _usage(client)["used_bytes"] == 500  # team/b still links it
    assert client.delete(f"/v2/team/b/blobs/{digest}").status_code == 202
    assert _usage(client)["used_bytes"] == 0


def test_deleting_a_repository_frees_what_only_it_held(client: TestClient) -> None:
    make_project(client, "team")
    shared = random_bytes(300)
    push_blob(client, "team/a", shared)
    push_blob(client, "team/b", shared)
    push_image(client, "team/b", "v1")
    assert client.delete(f"{PROJECT}/repositories/team/b").status_code == 204
    assert _usage(client)["used_bytes"] == 300


def test_a_monolithic_push_over_the_quota_is_refused_before_its_bytes(client: TestClient) -> None:
    make_project(client, "team")
    push_blob(client, "team/app", random_bytes(100))
    _set_quota(client, 150)
    blob = random_bytes(100)
    digest = digest_of(blob)
    message = _denied(client.post(f"/v2/team/app/blobs/uploads/?digest={digest}", content=blob))
    assert "project team" in message and "150 B" in message and "100 B used" in message
    assert not _linked(client, "team/app", digest)
    assert _usage(client)["used_bytes"] == 100


def test_a_put_with_the_whole_blob_is_refused(client: TestClient) -> None:
    make_project(client, "team")
    _set_quota(client, 50)
    blob = random_bytes(100)
    location = upload_location(client, "team/app")
    _denied(put_upload(client, location, digest_of(blob), blob))
    assert not _linked(client, "team/app", digest_of(blob))


def test_a_chunked_upload_is_refused_at_its_final_put(client: TestClient) -> None:
    make_project(client, "team")
    _set_quota(client, 150)
    blob = random_bytes(200)
    location = upload_location(client, "team/app")
    response = patch_chunk(client, location, blob[:100], 0)
    response = patch_chunk(client, response.headers["location"], blob[100:], 100)
    message = _denied(put_upload(client, response.headers["location"], digest_of(blob)))
    assert "200 B more" in message
    assert not _linked(client, "team/app", digest_of(blob))
    assert _usage(client)["used_bytes"] == 0


def test_a_mount_over_the_quota_is_refused(client: TestClient) -> None:
    make_project(client, "team")
    make_project(client, "other")
    blob = random_bytes(100)
    push_blob(client, "other/app", blob)
    _set_quota(client, 10)
    response = client.post(f"/v2/team/app/blobs/uploads/?mount={digest_of(blob)}&from=other/app")
    _denied(response)
    assert not _linked(client, "team/app", digest_of(blob))


def test_a_blob_the_project_holds_costs_nothing_more(client: TestClient) -> None:
    make_project(client, "team")
    blob = random_bytes(100)
    push_blob(client, "team/a", blob)
    _set_quota(client, 100)  # full
    digest = digest_of(blob)
    assert (
        client.post(f"/v2/team/b/blobs/uploads/?digest={digest}", content=blob).status_code == 201
    )
    response = client.post(f"/v2/team/c/blobs/uploads/?mount={digest}&from=team/a")
    assert response.status_code == 201
    assert _usage(client)["used_bytes"] == 100


def test_a_manifest_whose_payload_passes_the_quota_is_refused(client: TestClient) -> None:
    make_project(client, "team")
    manifest = build_image(client, "team/app")
    _fill_to(client, len(manifest.body) - 1)
    response = client.put(
        "/v2/team/app/manifests/v1",
        content=manifest.body,
        headers={"Content-Type": manifest.media_type},
    )
    assert "quota exceeded in project team" in _denied(response)
    assert client.get("/v2/team/app/manifests/v1").status_code == 404
    _fill_to(client, len(manifest.body))
    response = client.put(
        "/v2/team/app/manifests/v1",
        content=manifest.body,
        headers={"Content-Type": manifest.media_type},
    )
    assert response.status_code == 201


def test_quota_changes_are_for_administrators(client: TestClient, events: list[Event]) -> None:
    make_project(client, "team")
    owner = make_user(client, "owner")
    add_member(client, "team", "owner", "admin")
    assert is_problem(client.put(f"{PROJECT}/quota", json={"bytes": 10}, auth=owner), 403)
    response = client.put(f"{PROJECT}/quota", json={"bytes": 10 * 1024**3})
    assert response.json()["quota_bytes"] == 10 * 1024**3
    assert client.get(f"{PROJECT}/usage", auth=owner).json()["quota_bytes"] == 10 * 1024**3
    assert client.put(f"{PROJECT}/quota", json={"bytes": None}).json()["quota_bytes"] is None
    changes = [(e.project, e.size) for e in events if e.type is EventType.QUOTA_CHANGED]
    assert changes == [("team", 10 * 1024**3), ("team", None)]


def test_bad_quotas_and_unknown_projects_get_a_problem(client: TestClient) -> None:
    make_project(client, "team")
    assert is_problem(client.put(f"{PROJECT}/quota", json={"bytes": -1}), 422)
    assert is_problem(client.put(f"{PROJECT}/quota", json={"bytes": "10GiB"}), 422)
    assert is_problem(client.put(f"{PROJECT}/quota", json={}), 422)
    assert is_problem(client.put(f"{API}/projects/nope/quota", json={"bytes": 1}), 404)
    assert is_problem(client.get(f"{PROJECT}/repositories/team/nope/usage"), 404)


def test_usage_is_hidden_from_non_members_of_a_private_project(client: TestClient) -> None:
    make_project(client, "team")
    stranger = make_user(client, "stranger")
    assert is_problem(client.get(f"{PROJECT}/usage", auth=stranger), 404)


def test_a_recount_repairs_a_drifted_counter(client: TestClient) -> None:
    make_project(client, "team")
    push_image(client, "team/app", "v1")
    right = _usage(client)["used_bytes"]
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(text("UPDATE projects SET used_bytes = 7 WHERE name = 'team'"))
        connection.execute(text("DELETE FROM project_blobs"))
    response = client.post(f"{API}/system/usage/recount")
    assert response.json() == [{"project": "team", "before": 7, "after": right}]
    assert _usage(client)["used_bytes"] == right and _usage(client)["blob_count"] == 2
    assert client.post(f"{API}/system/usage/recount").json() == []
