"""Manifest validation on push: JSON shape, `mediaType` against `Content-Type`, referenced
blobs and child manifests, non-distributable layers, schema 1."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .helpers import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    OCI_NONDISTRIBUTABLE_LAYER,
    Manifest,
    assert_error,
    build_image,
    check_each,
    config_blob,
    describe,
    descriptor,
    digest_of,
    encode,
    get_manifest,
    make_image_manifest,
    make_index,
    platform,
    push_blob,
    push_image,
    push_manifest,
    put_manifest,
    random_bytes,
    unique_repo,
)


@pytest.fixture
def repo() -> str:
    return unique_repo()


@pytest.fixture
def config(client: httpx.Client, repo: str) -> dict[str, Any]:
    """A config blob pushed to the repository, as a descriptor."""
    data = config_blob()
    push_blob(client, repo, data)
    return descriptor(OCI_CONFIG, data)


def assert_refused(response: httpx.Response, *codes: str) -> None:
    assert_error(response, 400, *codes)


# --- media types -------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1])
def test_schema1_manifest_is_refused(client: httpx.Client, repo: str, content_type: str) -> None:
    """Issue 2: "schema 1 pushes are refused with a clear error".  The spec only lists
    schema1 codes as legacy (`MANIFEST_UNVERIFIED`, `TAG_INVALID`); the refusal is a 400
    `MANIFEST_INVALID` or `UNSUPPORTED` ("the operation is unsupported").
    """
    layer = push_blob(client, repo, random_bytes())
    document = {
        "schemaVersion": 1,
        "name": repo,
        "tag": "old",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": layer}],
        "history": [{"v1Compatibility": json.dumps({"id": "a" * 64})}],
    }
    response = put_manifest(client, repo, "old", encode(document), content_type)
    assert_error(response, {400, 415}, "MANIFEST_INVALID", "UNSUPPORTED")
    assert get_manifest(client, repo, "old").status_code == 404


@pytest.mark.parametrize(
    ("declared", "content_type"),
    [
        pytest.param(OCI_MANIFEST, DOCKER_MANIFEST, id="oci-body-docker-header"),
        pytest.param(DOCKER_MANIFEST, OCI_MANIFEST, id="docker-body-oci-header"),
        pytest.param(OCI_MANIFEST, OCI_INDEX, id="manifest-body-index-header"),
    ],
)
def test_media_type_must_match_content_type(
    client: httpx.Client, repo: str, config: dict[str, Any], declared: str, content_type: str
) -> None:
    """Spec: "If a manifest includes a `mediaType` field, clients MUST set the `Content-Type`
    header to the value specified by the `mediaType` field." -- issue 2: "`mediaType`
    consistent with `Content-Type`", so a mismatch is `MANIFEST_INVALID`.
    """
    body = encode(make_image_manifest(config, [], media_type=declared))
    response = put_manifest(client, repo, "v1", body, content_type)
    assert_refused(response, "MANIFEST_INVALID")


def test_index_media_type_must_match_content_type(client: httpx.Client, repo: str) -> None:
    """As above, for an index pushed with the Docker manifest list type."""
    child = push_image(client, repo)
    body = encode(make_index([child.descriptor(platform=platform("amd64"))]))
    response = put_manifest(client, repo, "v1", body, DOCKER_MANIFEST_LIST)
    assert_refused(response, "MANIFEST_INVALID")


# --- JSON shape ----------------------------------------------------------------------------


def malformed_bodies(config: dict[str, Any]) -> dict[str, bytes]:
    """Bodies that are not valid OCI image manifests, each with Content-Type OCI manifest."""

    def manifest(**changes: Any) -> bytes:
        document = make_image_manifest(config, [])
        document.update(changes)
        return encode({key: value for key, value in document.items() if value is not None})

    bad_digest = {**config, "digest": "sha256:not-a-digest"}
    return {
        "empty": b"",
        "truncated": b'{"schemaVersion": 2, "config": {',
        "not-json": b"this is not json",
        "invalid-utf8": b'{"schemaVersion": 2, "x": "\xff\xfe"}',
        "json-array": b"[]",
        "json-string": b'"manifest"',
        "json-null": b"null",
        "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
        "schema-version-3": manifest(schemaVersion=3),
        "schema-version-string": manifest(schemaVersion="2"),
        "no-config": manifest(config=None),
        "config-not-object": manifest(config="sha256:abc"),
        "layers-not-list": manifest(layers={"digest": config["digest"]}),
        "layer-not-object": manifest(layers=["x"]),
        "config-bad-digest": manifest(config=bad_digest),
        "config-no-digest": manifest(config={"mediaType": OCI_CONFIG, "size": config["size"]}),
        "config-negative-size": manifest(config={**config, "size": -1}),
        "config-string-size": manifest(config={**config, "size": "12"}),
        "config-huge-size": manifest(config={**config, "size": 10**30}),
        "config-no-media-type": manifest(config={"digest": config["digest"], "size": 2}),
    }


def test_malformed_manifest_is_manifest_invalid(
    client: httpx.Client, repo: str, config: dict[str, Any]
) -> None:
    """Error code-6 `MANIFEST_INVALID`: "During upload, manifests undergo several checks
    ensuring validity. If those checks fail, this error MAY be returned, unless a more
    specific error is included." (`DIGEST_INVALID` "MAY also be returned when a manifest
    includes an invalid layer digest"; `SIZE_INVALID` for an impossible size.)  Issue 2:
    never a 500.
    """

    def check(body: bytes) -> None:
        response = put_manifest(client, repo, "bad", body, OCI_MANIFEST)
        assert_refused(response, "MANIFEST_INVALID", "DIGEST_INVALID", "SIZE_INVALID")

    check_each(malformed_bodies(config), check)


MALFORMED_INDEXES = {
    "no-manifests": {"schemaVersion": 2, "mediaType": OCI_INDEX},
    "not-a-list": {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": "x"},
    "descriptor-without-digest": {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "size": 1}],
    },
    "descriptor-not-object": {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [7]},
}


def test_malformed_index_is_manifest_invalid(client: httpx.Client, repo: str) -> None:
    """Error code-6 `MANIFEST_INVALID` for an image index that fails the image spec's shape."""

    def check(document: dict[str, Any]) -> None:
        response = put_manifest(client, repo, "bad", encode(document), OCI_INDEX)
        assert_refused(response, "MANIFEST_INVALID", "DIGEST_INVALID")

    check_each(MALFORMED_INDEXES, check)


# --- references ------------------------------------------------------------------------------


def test_missing_config_blob_is_manifest_blob_unknown(client: httpx.Client, repo: str) -> None:
    """Spec: "A registry MAY reject a manifest uploaded to the manifest endpoint with
    descriptors in other fields that reference a manifest or blob that does not exist in the
    registry. When a manifest is rejected for this reason, it MUST result in one or more
    `MANIFEST_BLOB_UNKNOWN` errors."
    """
    missing = descriptor(OCI_CONFIG, config_blob())
    body = encode(make_image_manifest(missing, []))
    assert_refused(put_manifest(client, repo, "v1", body, OCI_MANIFEST), "MANIFEST_BLOB_UNKNOWN")


def test_missing_layer_blob_is_manifest_blob_unknown(
    client: httpx.Client, repo: str, config: dict[str, Any]
) -> None:
    """Spec: "When a manifest is rejected for this reason, it MUST result in one or more
    `MANIFEST_BLOB_UNKNOWN` errors." -- one present layer, one missing.
    """
    present = random_bytes()
    push_blob(client, repo, present)
    layers = [descriptor(OCI_LAYER, present), descriptor(OCI_LAYER, random_bytes())]
    body = encode(make_image_manifest(config, layers))
    assert_refused(put_manifest(client, repo, "v1", body, OCI_MANIFEST), "MANIFEST_BLOB_UNKNOWN")


def test_docker_manifest_missing_layer_is_manifest_blob_unknown(
    client: httpx.Client, repo: str
) -> None:
    """As above, for a Docker v2 schema 2 manifest."""
    manifest = build_image(client, repo, docker=True)
    document = json.loads(manifest.body)
    document["layers"].append(descriptor(document["layers"][0]["mediaType"], random_bytes()))
    body = encode(document)
    response = put_manifest(client, repo, "v1", body, DOCKER_MANIFEST)
    assert_refused(response, "MANIFEST_BLOB_UNKNOWN")


def test_blob_only_in_another_repository_is_manifest_blob_unknown(
    client: httpx.Client, repo: str, config: dict[str, Any]
) -> None:
    """Issue 2: "A blob is visible only in the repositories it was pushed or mounted into" --
    a layer pushed to another repository does not satisfy a manifest here.
    """
    layer = random_bytes()
    push_blob(client, unique_repo(), layer)
    body = encode(make_image_manifest(config, [descriptor(OCI_LAYER, layer)]))
    assert_refused(put_manifest(client, repo, "v1", body, OCI_MANIFEST), "MANIFEST_BLOB_UNKNOWN")


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-manifest-list"])
def test_index_with_missing_child_is_manifest_blob_unknown(
    client: httpx.Client, repo: str, docker: bool
) -> None:
    """Spec: descriptors "that reference a manifest ... that does not exist in the registry"
    -> "one or more `MANIFEST_BLOB_UNKNOWN` errors" (issue 2: child manifests must exist).
    """
    present = push_image(client, repo, docker=docker)
    absent = build_image(client, repo, docker=docker)
    entries = [
        present.descriptor(platform=platform("amd64")),
        absent.descriptor(platform=platform("arm64")),
    ]
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    body = encode(make_index(entries, media_type=media_type))
    assert_refused(put_manifest(client, repo, "v1", body, media_type), "MANIFEST_BLOB_UNKNOWN")


def test_index_child_only_in_another_repository_is_manifest_blob_unknown(
    client: httpx.Client, repo: str
) -> None:
    """A child manifest pushed to another repository is not a manifest of this one."""
    child = push_image(client, unique_repo())
    body = encode(make_index([child.descriptor(platform=platform("amd64"))]))
    assert_refused(put_manifest(client, repo, "v1", body, OCI_INDEX), "MANIFEST_BLOB_UNKNOWN")


def test_index_may_reference_an_index(client: httpx.Client, repo: str) -> None:
    """Image spec (index `manifests`): entries may be image manifests or indexes."""
    inner = Manifest(
        encode(make_index([push_image(client, repo).descriptor(platform=platform("amd64"))])),
        OCI_INDEX,
    )
    push_manifest(client, repo, inner)
    outer = Manifest(encode(make_index([inner.descriptor()])), OCI_INDEX)
    push_manifest(client, repo, outer, "nested")
    assert get_manifest(client, repo, "nested").content == outer.body


@pytest.mark.parametrize("with_urls", [True, False], ids=["with-urls", "without-urls"])
def test_non_distributable_layer_is_accepted_without_the_blob(
    client: httpx.Client, repo: str, config: dict[str, Any], with_urls: bool
) -> None:
    """Issue 2: referenced blobs must exist "unless the spec allows otherwise
    (non-distributable layers ...)"; the image spec's `urls` field, where these layers may
    be fetched from, is OPTIONAL.
    """
    extra = {"urls": ["https://example.com/layers/foreign.tar.gz"]} if with_urls else {}
    foreign = descriptor(OCI_NONDISTRIBUTABLE_LAYER, random_bytes(), **extra)
    body = encode(make_image_manifest(config, [foreign]))
    response = put_manifest(client, repo, "foreign", body, OCI_MANIFEST)
    assert response.status_code == 201, describe(response)
    assert get_manifest(client, repo, "foreign").content == body


def test_rejected_manifest_is_not_stored(client: httpx.Client, repo: str) -> None:
    """A refused push leaves neither the tag nor the digest behind."""
    body = encode(make_image_manifest(descriptor(OCI_CONFIG, config_blob()), []))
    response = put_manifest(client, repo, "v1", body, OCI_MANIFEST)
    assert response.status_code == 400, describe(response)
    assert get_manifest(client, repo, "v1").status_code == 404
    assert get_manifest(client, repo, digest_of(body)).status_code == 404
