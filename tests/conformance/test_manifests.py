"""Pushing and pulling manifests (end-3, end-7): the four manifest kinds, tags, content
negotiation, byte-for-byte storage and the 4 MiB size limit."""

from __future__ import annotations

import json

import httpx
import pytest

from .helpers import (
    DOCKER_MANIFEST,
    MANIFEST_KINDS,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Manifest,
    assert_error,
    assert_not_server_error,
    build_image,
    config_blob,
    describe,
    descriptor,
    digest_matches,
    digest_of,
    encode,
    get_manifest,
    head_manifest,
    header_list,
    list_tags,
    make_image_manifest,
    push_blob,
    push_image,
    push_kind,
    push_manifest,
    put_manifest,
    random_bytes,
    unique_repo,
)

MIB = 1024 * 1024


@pytest.fixture
def repo() -> str:
    return unique_repo()


def manifest_with_size(client: httpx.Client, repo: str, size: int) -> Manifest:
    """A valid OCI image manifest padded (in an annotation) to exactly ``size`` bytes."""
    config = config_blob()
    push_blob(client, repo, config)

    def body(padding: int) -> bytes:
        document = make_image_manifest(
            descriptor(OCI_CONFIG, config), [], annotations={"pad": "x" * padding}
        )
        return encode(document)

    padded = body(size - len(body(0)))
    assert len(padded) == size
    return Manifest(padded, OCI_MANIFEST)


# --- push ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MANIFEST_KINDS)
def test_put_manifest_by_tag_returns_201(client: httpx.Client, repo: str, kind: str) -> None:
    """Spec: "Upon a successful upload, the registry MUST return response code `201 Created`"
    -- for an OCI image manifest and index, a Docker v2 schema 2 manifest and manifest list.
    """
    manifest = push_kind(client, repo, kind, "latest")
    response = get_manifest(client, repo, "latest")
    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


@pytest.mark.parametrize("kind", MANIFEST_KINDS)
def test_put_manifest_by_digest_returns_201(client: httpx.Client, repo: str, kind: str) -> None:
    """Spec: "`<tag-or-digest>` MUST be either a) a digest or b) a tag" -- by digest."""
    manifest = push_kind(client, repo, kind)
    response = get_manifest(client, repo, manifest.digest)
    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


def test_put_manifest_response_has_pullable_location(client: httpx.Client, repo: str) -> None:
    """Spec: "MUST have the following header: `Location: <location>`. The `<location>` is a
    pullable manifest URL."
    """
    manifest = build_image(client, repo)
    response = push_manifest(client, repo, manifest, "v1")
    location = response.headers.get("location")
    assert location, describe(response)
    pulled = client.get(location, headers={"Accept": OCI_MANIFEST})
    assert pulled.status_code == 200, describe(pulled)
    assert pulled.content == manifest.body


def test_put_manifest_by_tag_returns_docker_content_digest(client: httpx.Client, repo: str) -> None:
    """Spec: "The Docker-Content-Digest header returns the digest of the uploaded blob" --
    the digest of the exact payload, also when pushed by tag.
    """
    manifest = build_image(client, repo)
    response = push_manifest(client, repo, manifest, "v1")
    header = response.headers.get("docker-content-digest")
    assert header is not None and digest_matches(header, manifest.body), describe(response)


def test_put_manifest_by_digest_returns_that_digest(client: httpx.Client, repo: str) -> None:
    """Spec: "The Docker-Content-Digest header returns the digest of the uploaded blob, and
    MUST be equal to the client provided digest."
    """
    manifest = build_image(client, repo)
    response = push_manifest(client, repo, manifest)
    assert response.headers.get("docker-content-digest") == manifest.digest, describe(response)


def test_put_by_digest_creates_no_tag(client: httpx.Client, repo: str) -> None:
    """A push by digest names no tag, so the tag list does not grow."""
    push_image(client, repo, "only")
    push_image(client, repo)
    response = list_tags(client, repo)
    assert response.json()["tags"] == ["only"], describe(response)


def test_pushing_the_same_manifest_twice_succeeds(client: httpx.Client, repo: str) -> None:
    """Manifest pushes are idempotent: the same bytes to the same reference are 201 again."""
    manifest = push_image(client, repo, "v1")
    push_manifest(client, repo, manifest, "v1")
    assert get_manifest(client, repo, "v1").content == manifest.body


def test_pushing_a_tag_again_moves_it(client: httpx.Client, repo: str) -> None:
    """A tag is "a custom, human-readable pointer to a manifest": pushing another manifest to
    the same tag points it there, and the old manifest stays pullable by digest.
    """
    old = push_image(client, repo, "latest")
    new = push_image(client, repo, "latest")
    assert get_manifest(client, repo, "latest").content == new.body
    assert get_manifest(client, repo, old.digest).content == old.body


def test_one_manifest_may_have_many_tags(client: httpx.Client, repo: str) -> None:
    """Spec: "A manifest digest may have zero, one, or many tags referencing it." """
    manifest = push_image(client, repo, "a")
    push_manifest(client, repo, manifest, "b")
    for tag in ("a", "b"):
        assert get_manifest(client, repo, tag).content == manifest.body


# --- ?tag= -----------------------------------------------------------------------------------


def push_with_tags(
    client: httpx.Client, repo: str, tags: list[str]
) -> tuple[Manifest, httpx.Response]:
    manifest = build_image(client, repo)
    response = put_manifest(
        client, repo, manifest.digest, manifest.body, manifest.media_type, tags=tags
    )
    assert response.status_code == 201, describe(response)
    return manifest, response


def test_put_with_tag_parameters_returns_oci_tag_header(client: httpx.Client, repo: str) -> None:
    """Spec: "MUST include an `OCI-Tag` response header, in accordance with RFC 9110
    (section 5) semantics, for each accepted tag."
    """
    tags = ["1.2.3", "1.2", "1", "latest"]
    _, response = push_with_tags(client, repo, tags)
    assert sorted(header_list(response, "oci-tag")) == sorted(tags), describe(response)


def test_put_with_tag_parameters_creates_every_tag(client: httpx.Client, repo: str) -> None:
    """Spec: `PUT /v2/<name>/manifests/<digest>?tag=1.2.3&tag=1.2&tag=1&tag=latest` "would
    indicate tags `1.2.3`, `1.2`, `1`, and `latest` were created."
    """
    tags = ["1.2.3", "1.2", "1", "latest"]
    manifest, _ = push_with_tags(client, repo, tags)
    for tag in tags:
        response = get_manifest(client, repo, tag)
        assert response.status_code == 200, describe(response)
        assert response.content == manifest.body
    assert sorted(list_tags(client, repo).json()["tags"]) == sorted(tags)


def test_put_with_ten_tag_parameters(client: httpx.Client, repo: str) -> None:
    """Spec: "SHOULD support pushing at least 10 tags per request." """
    tags = [f"t{i}" for i in range(10)]
    _, response = push_with_tags(client, repo, tags)
    assert sorted(header_list(response, "oci-tag")) == sorted(tags)
    assert sorted(list_tags(client, repo).json()["tags"]) == sorted(tags)


def test_put_with_very_many_tag_parameters_is_201_or_414(client: httpx.Client, repo: str) -> None:
    """Spec: a registry "MAY return a `414 Request-URI Too Long` status if too many tags are
    included in the request. Clients MAY see other status codes (`431 Request Header Fields
    Too Large`)" -- 300 tags are either all created or refused as a whole.
    """
    manifest = build_image(client, repo)
    tags = [f"tag-{i:04d}" for i in range(300)]
    response = put_manifest(
        client, repo, manifest.digest, manifest.body, manifest.media_type, tags=tags
    )
    assert response.status_code in {201, 400, 414, 431}, describe(response)
    if response.status_code == 201:
        assert sorted(header_list(response, "oci-tag")) == tags
    else:
        assert get_manifest(client, repo, tags[0]).status_code == 404


def test_put_with_tag_parameters_returns_the_digest(client: httpx.Client, repo: str) -> None:
    """Spec: "MUST be equal to the client provided digest" -- unchanged by `tag` parameters."""
    manifest, response = push_with_tags(client, repo, ["a", "b"])
    assert response.headers.get("docker-content-digest") == manifest.digest


# --- payload ---------------------------------------------------------------------------------


def test_manifest_is_stored_byte_for_byte(client: httpx.Client, repo: str) -> None:
    """Spec: "The registry MUST store the manifest in the exact byte representation provided
    by the client." -- unusual whitespace, key order, escapes and a trailing newline survive.
    """
    config, layer = config_blob(), random_bytes()
    push_blob(client, repo, config)
    push_blob(client, repo, layer)
    layer_json = json.dumps(descriptor(OCI_LAYER, layer), indent=3)
    config_json = json.dumps(descriptor(OCI_CONFIG, config))
    body = (
        f'{{\n\t"layers" : [ {layer_json} ] ,\r\n   "config":{config_json},\n'
        '"schemaVersion"    :2, "annotations": {"z": "\\u00e9t\\u00e9", "a": "\u00e9t\u00e9",'
        f' "n": "1.0E+2"}},  "mediaType": "{OCI_MANIFEST}"   }}\n\n'
    )
    manifest = Manifest(body.encode(), OCI_MANIFEST)
    push_manifest(client, repo, manifest, "odd")
    for reference in ("odd", manifest.digest):
        response = get_manifest(client, repo, reference)
        assert response.content == manifest.body, describe(response)
        assert response.headers.get("docker-content-digest") == manifest.digest


def test_manifest_without_media_type_field_keeps_pushed_content_type(
    client: httpx.Client, repo: str
) -> None:
    """Spec: "All manifests SHOULD include a `mediaType` field" (SHOULD, not MUST) and "The
    `Content-Type` header SHOULD match what the client pushed as the manifest's
    `Content-Type`."
    """
    config = config_blob()
    push_blob(client, repo, config)
    document = make_image_manifest(descriptor(OCI_CONFIG, config), [], media_type=None)
    manifest = Manifest(encode(document), OCI_MANIFEST)
    push_manifest(client, repo, manifest, "bare")
    response = get_manifest(client, repo, "bare")
    assert response.status_code == 200, describe(response)
    assert response.headers.get("content-type") == OCI_MANIFEST


def test_content_type_parameters_on_push_are_ignored(client: httpx.Client, repo: str) -> None:
    """Spec: "The registry SHOULD ignore parameters on the `Content-Type` header." """
    manifest = build_image(client, repo)
    response = put_manifest(client, repo, "v1", manifest.body, f"{OCI_MANIFEST}; charset=utf-8")
    assert response.status_code == 201, describe(response)
    assert get_manifest(client, repo, "v1").headers.get("content-type") == OCI_MANIFEST


def test_image_manifest_with_no_layers_is_accepted(client: httpx.Client, repo: str) -> None:
    """Spec: "The uploaded manifest MUST reference any blobs that make up the object.
    However, the list of blobs MAY be empty."
    """
    config = config_blob()
    push_blob(client, repo, config)
    manifest = Manifest(
        encode(make_image_manifest(descriptor(OCI_CONFIG, config), [])), OCI_MANIFEST
    )
    push_manifest(client, repo, manifest, "empty")


def test_manifest_of_four_mebibytes_is_accepted(client: httpx.Client, repo: str) -> None:
    """Spec: "Client and registry implementations SHOULD expect to be able to support
    manifest pushes of at least 4 megabytes." (issue 2: a 4 MiB limit, so exactly 4 MiB
    is within it)
    """
    manifest = manifest_with_size(client, repo, 4 * MIB)
    push_manifest(client, repo, manifest, "big")
    assert get_manifest(client, repo, "big").content == manifest.body


def test_manifest_over_four_mebibytes_returns_413(client: httpx.Client, repo: str) -> None:
    """Spec: "A registry that enforces this limit SHOULD respond to a request to push a
    manifest over this limit with a response code `413 Payload Too Large`."
    """
    manifest = manifest_with_size(client, repo, 4 * MIB + 1)
    response = put_manifest(client, repo, "too-big", manifest.body, OCI_MANIFEST)
    assert response.status_code == 413, describe(response)
    assert_not_server_error(response)
    assert get_manifest(client, repo, "too-big").status_code == 404


# --- pull ------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_get_manifest_returns_200_and_the_manifest(
    client: httpx.Client, repo: str, by: str
) -> None:
    """Spec: "A GET request to an existing manifest URL MUST provide the expected manifest,
    with a response code that MUST be `200 OK`."
    """
    manifest = push_image(client, repo, "v1")
    response = get_manifest(client, repo, "v1" if by == "tag" else manifest.digest)
    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_get_manifest_has_docker_content_digest(client: httpx.Client, repo: str, by: str) -> None:
    """Spec: "A successful response MUST contain the digest of the uploaded blob in the header
    `Docker-Content-Digest`." ... "the client MUST verify the value matches the returned
    manifest" -- so it must match.
    """
    manifest = push_image(client, repo, "v1")
    response = get_manifest(client, repo, "v1" if by == "tag" else manifest.digest)
    header = response.headers.get("docker-content-digest")
    assert header is not None and digest_matches(header, response.content), describe(response)


@pytest.mark.parametrize("kind", MANIFEST_KINDS)
def test_get_content_type_is_the_pushed_type(client: httpx.Client, repo: str, kind: str) -> None:
    """Spec: "The `Content-Type` header SHOULD match what the client pushed as the manifest's
    `Content-Type`."
    """
    manifest = push_kind(client, repo, kind, "v1")
    for reference in ("v1", manifest.digest):
        response = get_manifest(client, repo, reference)
        assert response.headers.get("content-type") == manifest.media_type, describe(response)


def test_get_content_type_has_no_parameters(client: httpx.Client, repo: str) -> None:
    """Spec: "The registry SHOULD NOT include parameters on the `Content-Type` header." """
    push_image(client, repo, "v1")
    response = get_manifest(client, repo, "v1")
    assert ";" not in response.headers.get("content-type", ""), describe(response)


@pytest.mark.parametrize("kind", MANIFEST_KINDS)
def test_get_with_exactly_the_pushed_type_accepted(
    client: httpx.Client, repo: str, kind: str
) -> None:
    """Spec: "The client SHOULD include an `Accept` header indicating which manifest content
    types it supports." -- naming just the manifest's own type gets it.
    """
    manifest = push_kind(client, repo, kind, "v1")
    response = get_manifest(client, repo, "v1", accept=[manifest.media_type])
    assert response.status_code == 200, describe(response)
    assert response.headers.get("content-type") == manifest.media_type


def test_get_with_quality_values_in_accept(client: httpx.Client, repo: str) -> None:
    """RFC 9110 section 12.5.1 (the spec points to RFC 7231 section 3.1.1.1 for `Accept`):
    media ranges with `q` weights still select the manifest's type.
    """
    manifest = push_image(client, repo, "v1")
    accept = [f"{DOCKER_MANIFEST};q=0.5", f"{OCI_MANIFEST};q=0.9", f"{OCI_INDEX};q=0.8"]
    response = get_manifest(client, repo, "v1", accept=accept)
    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


def test_get_with_wildcard_accept(client: httpx.Client, repo: str) -> None:
    """RFC 9110 section 12.5.1: `*/*` accepts any media type, so the manifest is returned."""
    manifest = push_image(client, repo, "v1")
    response = get_manifest(client, repo, "v1", accept=["*/*"])
    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


def test_get_without_accept(client: httpx.Client, repo: str) -> None:
    """RFC 9110 section 12.5.1: "A request without any Accept header field implies that the
    user agent will accept any media type in response."
    """
    manifest = push_image(client, repo, "v1")
    response = client.get(f"/v2/{repo}/manifests/v1")
    assert response.status_code == 200, describe(response)
    assert response.content == manifest.body


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_head_manifest_returns_200_digest_and_length(
    client: httpx.Client, repo: str, by: str
) -> None:
    """Spec: "A HEAD request to an existing blob or manifest URL MUST return `200 OK`. A
    successful response MUST contain the digest of the uploaded blob or manifest in the
    header `Docker-Content-Digest`. A successful response MUST contain the size in bytes of
    the uploaded blob or manifest in the header `Content-Length`."
    """
    manifest = push_image(client, repo, "v1")
    response = head_manifest(client, repo, "v1" if by == "tag" else manifest.digest)
    assert response.status_code == 200, describe(response)
    assert response.headers.get("docker-content-digest") == manifest.digest
    assert response.headers.get("content-length") == str(len(manifest.body))
    assert response.content == b""


@pytest.mark.parametrize("kind", MANIFEST_KINDS)
def test_head_manifest_content_type_is_the_pushed_type(
    client: httpx.Client, repo: str, kind: str
) -> None:
    """Spec: "The `Content-Type` header SHOULD match what the client pushed" -- HEAD answers
    with the same headers as GET (RFC 9110 section 9.3.2).
    """
    manifest = push_kind(client, repo, kind, "v1")
    response = head_manifest(client, repo, "v1")
    assert response.headers.get("content-type") == manifest.media_type, describe(response)


def test_get_unknown_tag_returns_404_manifest_unknown(client: httpx.Client, repo: str) -> None:
    """Spec: "If the manifest is not found in the repository, the response code MUST be
    `404 Not Found`." (code-7 `MANIFEST_UNKNOWN`, "manifest unknown to registry")
    """
    push_image(client, repo, "v1")
    assert_error(get_manifest(client, repo, "v2"), 404, "MANIFEST_UNKNOWN")


def test_get_unknown_digest_returns_404_manifest_unknown(client: httpx.Client, repo: str) -> None:
    """Spec: "If the manifest is not found in the repository, the response code MUST be
    `404 Not Found`."
    """
    push_image(client, repo, "v1")
    response = get_manifest(client, repo, digest_of(random_bytes()))
    assert_error(response, 404, "MANIFEST_UNKNOWN")


def test_head_unknown_manifest_returns_404(client: httpx.Client, repo: str) -> None:
    """Spec: "If the blob or manifest is not found in the repository, the response code MUST
    be `404 Not Found`."
    """
    push_image(client, repo, "v1")
    response = head_manifest(client, repo, "v2")
    assert response.status_code == 404, describe(response)


def test_pull_from_nonexistent_repository_returns_404(client: httpx.Client) -> None:
    """Spec: "An attempt to pull a nonexistent repository MUST return response code
    `404 Not Found`."
    """
    response = get_manifest(client, unique_repo("missing"), "latest")
    assert_error(response, 404, "NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_manifest_is_not_visible_in_another_repository(client: httpx.Client, repo: str) -> None:
    """Spec: a manifest is pulled from "the repository" it was pushed to; another repository
    does not serve it, even by digest.
    """
    manifest = push_image(client, repo, "v1")
    other = unique_repo()
    push_image(client, other, "v1")
    assert_error(get_manifest(client, other, manifest.digest), 404, "MANIFEST_UNKNOWN")


def test_blob_of_a_manifest_is_pullable_as_a_blob(client: httpx.Client, repo: str) -> None:
    """Pull "centers around retrieving two components: the manifest and one or more blobs" --
    every blob a pushed manifest references is pullable from its repository.
    """
    manifest = push_image(client, repo, "v1", layer_count=2)
    document = json.loads(manifest.body)
    for item in [document["config"], *document["layers"]]:
        response = client.get(f"/v2/{repo}/blobs/{item['digest']}")
        assert response.status_code == 200, describe(response)
        assert digest_of(response.content) == item["digest"]
        assert len(response.content) == item["size"]
