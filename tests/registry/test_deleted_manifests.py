"""A deleted manifest is gone for clients but kept, so that tag history can restore it, and
every tag change is written to the history in the same transaction as the change itself."""

from __future__ import annotations

import json

from sqlalchemy import select
from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from cargobay.metadata.models import Manifest, Repository, TagHistory
from conformance.helpers import (
    blob_url,
    get_manifest,
    push_image,
    push_index,
    push_manifest,
    referrers,
)
from liveserver import ADMIN


def history(client: TestClient, repository: str) -> list[tuple[str, str | None, str | None, str]]:
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    query = (
        select(TagHistory.tag, TagHistory.old_digest, TagHistory.new_digest, TagHistory.operation)
        .where(TagHistory.repository_id == repository_id(client, repository))
        .order_by(TagHistory.id)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def repository_id(client: TestClient, name: str) -> int:
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return connection.scalar(select(Repository.id).where(Repository.name == name))


def deleted_at(client: TestClient, digest: str) -> object:
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return connection.scalar(select(Manifest.deleted_at).where(Manifest.digest == digest))


def test_a_deleted_manifest_is_unknown_to_clients_but_its_row_is_kept(
    client: TestClient,
) -> None:
    image = push_image(client, "team/app", "v1")
    assert client.delete(f"/v2/team/app/manifests/{image.digest}").status_code == 202
    assert get_manifest(client, "team/app", image.digest).status_code == 404
    assert get_manifest(client, "team/app", "v1").status_code == 404
    assert deleted_at(client, image.digest) is not None


def test_a_deleted_manifest_is_not_listed_as_an_artifact(client: TestClient) -> None:
    image = push_image(client, "team/app", "v1")
    client.delete(f"/v2/team/app/manifests/{image.digest}")
    listing = client.get("/api/v1/projects/team/repositories/team/app/artifacts").json()
    assert [artifact["digest"] for artifact in listing["items"]] == []


def test_a_deleted_manifest_cannot_be_deleted_twice(client: TestClient) -> None:
    image = push_image(client, "team/app", "v1")
    client.delete(f"/v2/team/app/manifests/{image.digest}")
    assert client.delete(f"/v2/team/app/manifests/{image.digest}").status_code == 404


def test_a_deleted_referrer_leaves_the_referrers_list(client: TestClient) -> None:
    subject = push_image(client, "team/app", "v1")
    signature = push_image(
        client, "team/app", artifact_type="application/example", subject=subject.descriptor()
    )
    client.delete(f"/v2/team/app/manifests/{signature.digest}")
    assert referrers(client, "team/app", subject.digest).json()["manifests"] == []


def test_an_index_cannot_be_pushed_over_a_deleted_child(client: TestClient) -> None:
    child = push_image(client, "team/app")
    client.delete(f"/v2/team/app/manifests/{child.digest}")
    response = client.put(
        "/v2/team/app/manifests/multi",
        content=(
            b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
            b'"manifests":[' + json.dumps(child.descriptor()).encode() + b"]}"
        ),
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


def test_pushing_a_deleted_manifest_again_brings_it_back(
    client: TestClient, events: list[Event]
) -> None:
    image = push_image(client, "team/app", "v1")
    client.delete(f"/v2/team/app/manifests/{image.digest}")
    push_manifest(client, "team/app", image, "v1")
    assert [event.type for event in events[-2:]] == [
        EventType.MANIFEST_PUSHED,
        EventType.TAG_CREATED,
    ]
    assert get_manifest(client, "team/app", "v1").content == image.body
    assert deleted_at(client, image.digest) is None


def test_pushing_back_a_manifest_links_its_blobs_again(client: TestClient) -> None:
    image = push_image(client, "team/app", "v1")
    layer = json.loads(image.body)["layers"][0]["digest"]
    client.delete(f"/v2/team/app/manifests/{image.digest}")
    client.delete(blob_url("team/app", layer))
    push_manifest(client, "team/app", image, "v1")
    assert client.head(blob_url("team/app", layer)).status_code == 200


def test_every_tag_change_is_in_the_history_with_its_operation(client: TestClient) -> None:
    first = push_image(client, "team/app", "v1")
    second = push_image(client, "team/app", "v1")
    client.delete("/v2/team/app/manifests/v1")
    push_manifest(client, "team/app", first, "stable")
    client.delete(f"/v2/team/app/manifests/{first.digest}")
    assert history(client, "team/app") == [
        ("v1", None, first.digest, "push"),
        ("v1", first.digest, second.digest, "push"),
        ("v1", second.digest, None, "delete"),
        ("stable", None, first.digest, "push"),
        ("stable", first.digest, None, "delete"),
    ]


def test_a_tag_pushed_again_to_the_same_digest_adds_no_history(client: TestClient) -> None:
    image = push_image(client, "team/app", "v1")
    push_manifest(client, "team/app", image, "v1")
    assert len(history(client, "team/app")) == 1


def test_the_history_names_who_changed_the_tag(client: TestClient) -> None:
    push_image(client, "team/app", "v1")
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        assert connection.scalar(select(TagHistory.actor)) == ADMIN[0]


def test_an_index_and_its_tags_are_recorded_when_deleted_through_the_api(
    client: TestClient,
) -> None:
    children = [push_image(client, "team/app") for _ in range(2)]
    index = push_index(client, "team/app", children, "multi")
    response = client.delete(
        f"/api/v1/projects/team/repositories/team/app/artifacts/{index.digest}"
    )
    assert response.status_code == 204
    assert history(client, "team/app")[-1] == ("multi", index.digest, None, "api")
