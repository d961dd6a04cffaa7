"""Every state change emits one domain event through the dispatcher, after it is committed."""

from __future__ import annotations

from starlette.testclient import TestClient

from cargobay.events import Event, EventType
from conformance.helpers import push_blob, push_image, random_bytes


def types(events: list[Event]) -> list[EventType]:
    return [event.type for event in events]


def test_pushing_a_blob_emits_blob_pushed(client: TestClient, events: list[Event]) -> None:
    digest = push_blob(client, "app", random_bytes(10))
    assert events[-1].type == EventType.BLOB_PUSHED
    assert (events[-1].repository, events[-1].digest, events[-1].size) == ("app", digest, 10)


def test_pushing_a_manifest_by_tag_emits_manifest_pushed_then_tag_created(
    client: TestClient, events: list[Event]
) -> None:
    image = push_image(client, "app", "v1")
    assert types(events)[-2:] == [EventType.MANIFEST_PUSHED, EventType.TAG_CREATED]
    assert events[-1].tag == "v1" and events[-1].digest == image.digest


def test_moving_a_tag_emits_tag_moved_with_the_previous_digest(
    client: TestClient, events: list[Event]
) -> None:
    first = push_image(client, "app", "latest")
    second = push_image(client, "app", "latest")
    moved = events[-1]
    assert moved.type == EventType.TAG_MOVED
    assert (moved.previous_digest, moved.digest) == (first.digest, second.digest)


def test_pushing_the_same_manifest_again_emits_nothing(
    client: TestClient, events: list[Event]
) -> None:
    image = push_image(client, "app", "v1")
    count = len(events)
    client.put(
        "/v2/app/manifests/v1", content=image.body, headers={"Content-Type": image.media_type}
    )
    assert len(events) == count


def test_pulls_emit_pull_events(client: TestClient, events: list[Event]) -> None:
    image = push_image(client, "app", "v1")
    client.get("/v2/app/manifests/v1")
    assert events[-1].type == EventType.MANIFEST_PULLED and events[-1].digest == image.digest
    digest = push_blob(client, "app", b"layer")
    client.get(f"/v2/app/blobs/{digest}")
    assert events[-1].type == EventType.BLOB_PULLED


def test_deletes_emit_tag_and_manifest_deleted(client: TestClient, events: list[Event]) -> None:
    image = push_image(client, "app", "v1")
    client.delete(f"/v2/app/manifests/{image.digest}")
    assert types(events)[-2:] == [EventType.TAG_DELETED, EventType.MANIFEST_DELETED]


def test_a_refused_push_emits_nothing(client: TestClient, events: list[Event]) -> None:
    client.put(
        "/v2/app/manifests/v1",
        content=b"{not json",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert events == []
