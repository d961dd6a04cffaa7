"""Mounting a blob from another repository (end-11)."""

from __future__ import annotations

import json

import httpx
import pytest

from .helpers import (
    blob_url,
    build_image,
    describe,
    digest_of,
    push_blob,
    put_manifest,
    put_upload,
    random_bytes,
    start_upload,
    unique_repo,
)


@pytest.fixture
def source() -> str:
    return unique_repo("source")


@pytest.fixture
def target() -> str:
    return unique_repo("target")


def mount(client: httpx.Client, repo: str, digest: str, from_repo: str | None) -> httpx.Response:
    params = {"mount": digest}
    if from_repo is not None:
        params["from"] = from_repo
    return start_upload(client, repo, **params)


def test_mount_returns_201_with_location(client: httpx.Client, source: str, target: str) -> None:
    """Spec: "The response to a successful mount MUST be `201 Created`, and MUST contain the
    following header: `Location: <blob-location>`".
    """
    digest = push_blob(client, source, random_bytes())
    response = mount(client, target, digest, source)
    assert response.status_code == 201, describe(response)
    assert response.headers.get("location"), describe(response)


def test_mount_location_is_the_blob_in_the_target(
    client: httpx.Client, source: str, target: str
) -> None:
    """Spec: "The Location header will contain the registry URL to access the accepted layer
    file."
    """
    data = random_bytes()
    response = mount(client, target, push_blob(client, source, data), source)
    pulled = client.get(response.headers["location"])
    assert pulled.status_code == 200, describe(pulled)
    assert pulled.content == data


def test_mounted_blob_is_pullable_from_the_target(
    client: httpx.Client, source: str, target: str
) -> None:
    """Spec: the blob "can be mounted into a different repository" -- afterwards the target
    repository serves it like any blob pushed there.
    """
    data = random_bytes()
    digest = push_blob(client, source, data)
    assert mount(client, target, digest, source).status_code == 201
    response = client.get(blob_url(target, digest))
    assert response.status_code == 200, describe(response)
    assert response.content == data


def test_mount_keeps_the_blob_in_the_source(client: httpx.Client, source: str, target: str) -> None:
    """Mounting shares a blob; it does not move it out of `<other_name>`."""
    data = random_bytes()
    digest = push_blob(client, source, data)
    assert mount(client, target, digest, source).status_code == 201
    assert client.get(blob_url(source, digest)).content == data


def test_mount_of_blob_unknown_to_registry_returns_202_upload_session(
    client: httpx.Client, source: str, target: str
) -> None:
    """Spec: "if a registry does not support cross-repository mounting or is unable to mount
    the requested blob, it SHOULD return a `202`. This indicates that the upload session has
    begun and that the client MAY proceed with the upload."
    """
    push_blob(client, source, random_bytes())
    data = random_bytes()
    response = mount(client, target, digest_of(data), source)
    assert response.status_code == 202, describe(response)
    closed = put_upload(client, response.headers["location"], digest_of(data), data)
    assert closed.status_code == 201, describe(closed)
    assert client.get(blob_url(target, digest_of(data))).content == data


def test_mount_of_blob_not_in_from_repository_returns_202(
    client: httpx.Client, source: str, target: str
) -> None:
    """Issue 2: mount falls back to an upload session when the blob is not in `from`.

    Spec: "is unable to mount the requested blob, it SHOULD return a `202`".  The blob exists
    in a third repository; the spec would also let a registry that treats `from` as optional
    mount it, but Cargobay honours a given `from` and mounts only from there.
    """
    push_blob(client, source, random_bytes())
    digest = push_blob(client, unique_repo("elsewhere"), random_bytes())
    response = mount(client, target, digest, source)
    assert response.status_code == 202, describe(response)
    assert response.headers.get("location"), describe(response)
    assert client.head(blob_url(target, digest)).status_code == 404


def test_mount_from_nonexistent_repository_returns_202(client: httpx.Client, target: str) -> None:
    """Spec: "is unable to mount the requested blob, it SHOULD return a `202`" -- a `from`
    repository that does not exist holds nothing to mount.
    """
    response = mount(client, target, digest_of(random_bytes()), unique_repo("missing"))
    assert response.status_code == 202, describe(response)
    assert response.headers.get("location"), describe(response)


def test_mount_without_from_returns_201_for_a_known_blob(
    client: httpx.Client, source: str, target: str
) -> None:
    """Spec: "The registry MAY treat the `from` parameter as optional, and it MAY cross-mount
    the blob if it can be found."  Issue 2 requires it: "mount without `from` where the blob
    is already known to this registry and the caller may read it".
    """
    data = random_bytes()
    digest = push_blob(client, source, data)
    response = mount(client, target, digest, None)
    assert response.status_code == 201, describe(response)
    assert client.get(blob_url(target, digest)).content == data


def test_mount_without_from_returns_202_for_an_unknown_blob(
    client: httpx.Client, target: str
) -> None:
    """Spec: "is unable to mount the requested blob, it SHOULD return a `202`"."""
    response = mount(client, target, digest_of(random_bytes()), None)
    assert response.status_code == 202, describe(response)
    assert response.headers.get("location"), describe(response)


def test_mount_response_digest_header_matches_if_present(
    client: httpx.Client, source: str, target: str
) -> None:
    """Spec: "The Docker-Content-Digest header returns the digest of the uploaded blob which
    MAY differ from the provided digest." -- if sent, it must name this blob's content.
    """
    data = random_bytes()
    response = mount(client, target, push_blob(client, source, data), source)
    header = response.headers.get("docker-content-digest")
    assert header is None or header in {digest_of(data), digest_of(data, "sha512")}


def test_mounted_blobs_satisfy_a_manifest_in_the_target(
    client: httpx.Client, source: str, target: str
) -> None:
    """Issue 2: "A blob is visible only in the repositories it was pushed or mounted into" --
    once mounted, the blobs count as present for a manifest pushed to the target.
    """
    manifest = build_image(client, source)
    document = json.loads(manifest.body)
    for item in [document["config"], *document["layers"]]:
        assert mount(client, target, item["digest"], source).status_code == 201
    response = put_manifest(client, target, "v1", manifest.body, manifest.media_type)
    assert response.status_code == 201, describe(response)
