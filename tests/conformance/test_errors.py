"""Errors: the OCI error body, repository-name and tag grammar, and malformed requests that
must never produce a server error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from .helpers import (
    OCI_MANIFEST,
    OCTET_STREAM,
    Manifest,
    assert_error,
    assert_not_server_error,
    blob_url,
    build_image,
    check_each,
    describe,
    digest_of,
    error_codes,
    get_manifest,
    list_tags,
    patch_chunk,
    push_blob,
    push_image,
    put_manifest,
    put_upload,
    random_bytes,
    start_upload,
    unique_repo,
    upload_location,
    with_query,
)

#: Names the spec's `<name>` regular expression rejects, by what is wrong with them.
INVALID_NAMES = {
    "uppercase": "Uppercase",
    "uppercase-component": "lower/Upper",
    "leading-dash": "-leading",
    "leading-underscore": "_leading",
    "leading-dot": ".leading",
    "trailing-dash": "trailing-",
    "trailing-dot": "trailing.",
    "double-dot": "double..dot",
    "dot-dot-component": "parent/..hidden",
    "triple-underscore": "triple___underscore",
    "dot-dash": "dot.-dash",
    "empty-component": "empty//component",
    "bang": "bang!",
    "non-ascii": "caf\u00e9",
}
#: Names the regular expression accepts, including its less common separators.
VALID_NAMES = ["a", "0", "a.b", "a_b", "a__b", "a-b", "a---b", "a/b/c/d", "a0.b-c_d/e__f.g"]
#: Tags the spec's `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` rejects.
INVALID_TAGS = {
    "leading-dash": "-dash",
    "leading-dot": ".dot",
    "too-long": "a" * 129,
    "plus": "bad+plus",
    "bang": "bad!bang",
    "non-ascii": "caf\u00e9",
}
#: Tags it accepts at its edges.
VALID_TAGS = ["_under", "A", "a" * 128, "1.0.0-rc.1_build", "0", "UPPER.lower-Mixed_1"]


@pytest.fixture
def repo() -> str:
    return unique_repo()


# --- error body ----------------------------------------------------------------------------


def test_error_body_has_the_oci_format(client: httpx.Client, repo: str) -> None:
    """Spec: "If the response body is in JSON format, it MUST have the following format:
    `{"errors": [{"code": ..., "message": ..., "detail": ...}]}`" and "The `code` field MUST
    be a unique identifier, containing only uppercase alphabetic characters and underscores."
    """
    push_image(client, repo, "v1")
    response = get_manifest(client, repo, "missing")
    assert response.status_code == 404, describe(response)
    assert error_codes(response) == ["MANIFEST_UNKNOWN"]


def test_error_message_is_a_human_readable_string(client: httpx.Client, repo: str) -> None:
    """Spec: "The `message` field is OPTIONAL, and if present, it SHOULD be a human readable
    string" -- Cargobay always sends one.  (`detail` is OPTIONAL and "MAY contain arbitrary
    JSON data", so only its presence as a key, if any, is allowed, not required.)
    """
    push_image(client, repo, "v1")
    error = get_manifest(client, repo, "missing").json()["errors"][0]
    assert isinstance(error.get("message"), str) and error["message"].strip(), error


# --- repository names ------------------------------------------------------------------------


def test_invalid_name_on_upload_is_name_invalid(client: httpx.Client) -> None:
    """Spec: "Throughout this document, `<name>` MUST match the following regular expression:
    `[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*`"; code-8
    `NAME_INVALID` ("invalid repository name"), a 400 ("Invalid Name or Reference").
    """
    check_each(
        INVALID_NAMES, lambda name: assert_error(start_upload(client, name), 400, "NAME_INVALID")
    )


def test_invalid_name_on_manifest_push_is_name_invalid(client: httpx.Client) -> None:
    """Spec: `<name>` "MUST match" the regular expression; detail.md "PUT Manifest" lists
    `NAME_INVALID` under 400 "Invalid Manifest"."""

    def check(name: str) -> None:
        response = put_manifest(client, name, "v1", b'{"schemaVersion":2}', OCI_MANIFEST)
        assert_error(response, 400, "NAME_INVALID")

    check_each(INVALID_NAMES, check)


def test_invalid_name_on_read_is_refused(client: httpx.Client) -> None:
    """Reads of a name outside the grammar: 400 `NAME_INVALID`, or 404 `NAME_UNKNOWN`
    (such a repository cannot exist; end-8a's only failure status is 404).  Interpretation:
    writes must say `NAME_INVALID`; reads may say either.
    """

    def check(name: str) -> None:
        response = list_tags(client, name)
        if response.status_code == 400:
            assert_error(response, 400, "NAME_INVALID")
        else:
            assert_error(response, 404, "NAME_UNKNOWN")

    check_each(INVALID_NAMES, check)


def test_valid_names_are_accepted(client: httpx.Client) -> None:
    """Spec: the `<name>` grammar allows `.`, `_`, `__`, one or more `-` and `/`-separated
    components; all of them push and pull.
    """
    prefix = unique_repo()

    def check(shape: str) -> None:
        name = f"{prefix}/{shape}"
        data = random_bytes()
        response = put_upload(client, upload_location(client, name), digest_of(data), data)
        assert response.status_code == 201, describe(response)
        assert client.get(blob_url(name, digest_of(data))).content == data

    check_each({shape: shape for shape in VALID_NAMES}, check)


def test_nested_name_manifest_push_and_tags(client: httpx.Client) -> None:
    """A multi-component `<name>` works through every endpoint family (here: manifest push,
    pull by tag and tags list)."""
    name = f"{unique_repo()}/team/app"
    manifest = push_image(client, name, "v1")
    assert get_manifest(client, name, "v1").content == manifest.body
    assert list_tags(client, name).json() == {"name": name, "tags": ["v1"]}


# --- tags ----------------------------------------------------------------------------------


def test_invalid_tag_on_push_is_refused(client: httpx.Client, repo: str) -> None:
    """Spec: "`<tag-or-digest>` as a tag MUST be at most 128 characters in length and MUST
    match the following regular expression: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`".

    Interpretation of the code: the spec's table has no tag code; `TAG_INVALID` is a legacy
    code clients "MAY encounter" and `MANIFEST_INVALID` covers failed upload checks, so a
    400 with either is accepted.
    """
    manifest = build_image(client, repo)

    def check(tag: str) -> None:
        response = put_manifest(client, repo, tag, manifest.body, manifest.media_type)
        assert_error(response, 400, "TAG_INVALID", "MANIFEST_INVALID")

    check_each(INVALID_TAGS, check)


def test_invalid_tag_parameter_is_refused(client: httpx.Client, repo: str) -> None:
    """The `?tag=` parameters name tags too, so the same grammar applies: 400, and the
    manifest is not half-pushed under the valid tags of the same request.
    """
    manifest = build_image(client, repo)

    def check(tag: str) -> None:
        response = put_manifest(
            client, repo, manifest.digest, manifest.body, manifest.media_type, tags=["ok", tag]
        )
        assert_error(response, 400, "TAG_INVALID", "MANIFEST_INVALID")
        assert get_manifest(client, repo, "ok").status_code == 404

    check_each(INVALID_TAGS, check)


def test_valid_tags_are_accepted(client: httpx.Client, repo: str) -> None:
    """Spec: the tag grammar `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` -- its edges push and pull."""
    manifest = build_image(client, repo)

    def check(tag: str) -> None:
        response = put_manifest(client, repo, tag, manifest.body, manifest.media_type)
        assert response.status_code == 201, describe(response)
        assert get_manifest(client, repo, tag).content == manifest.body

    check_each({tag[:40]: tag for tag in VALID_TAGS}, check)
    assert sorted(list_tags(client, repo).json()["tags"]) == sorted(VALID_TAGS)


def test_invalid_tag_on_pull_is_refused(client: httpx.Client, repo: str) -> None:
    """Spec: "The `<tag-or-digest>` MUST NOT be in any other format." -- a pull by an
    invalid tag gets 400 (`TAG_INVALID`/`MANIFEST_INVALID`) or 404 `MANIFEST_UNKNOWN`.
    """
    push_image(client, repo, "v1")

    def check(tag: str) -> None:
        response = get_manifest(client, repo, tag)
        if response.status_code == 400:
            assert_error(response, 400, "TAG_INVALID", "MANIFEST_INVALID")
        else:
            assert_error(response, 404, "MANIFEST_UNKNOWN")

    check_each(INVALID_TAGS, check)


# --- malformed requests: never a 5xx -----------------------------------------------------------


@dataclass(frozen=True)
class World:
    """A repository holding one image (tag v1) and one open upload session with 10 bytes."""

    repo: str
    manifest: Manifest
    blob: str
    upload: str


@pytest.fixture
def world(client: httpx.Client, repo: str) -> World:
    manifest = push_image(client, repo, "v1")
    blob = push_blob(client, repo, random_bytes())
    upload = patch_chunk(client, upload_location(client, repo), random_bytes(10), 0)
    return World(repo, manifest, blob, upload.headers["location"])


Request = Callable[[httpx.Client, World], httpx.Response]


def open_session(client: httpx.Client, repo: str) -> str:
    """A fresh upload session holding 10 bytes, so every case starts from the same state."""
    response = patch_chunk(client, upload_location(client, repo), random_bytes(10), 0)
    assert response.status_code == 202, describe(response)
    return response.headers["location"]


def patch_with_range(value: str, size: int = 10) -> Request:
    def send(client: httpx.Client, world: World) -> httpx.Response:
        headers = {"Content-Type": OCTET_STREAM, "Content-Range": value}
        location = open_session(client, world.repo)
        return client.patch(location, content=random_bytes(size), headers=headers)

    return send


def put_with_range(value: str) -> Request:
    def send(client: httpx.Client, world: World) -> httpx.Response:
        data = random_bytes(5)
        url = with_query(open_session(client, world.repo), digest=digest_of(data))
        headers = {"Content-Type": OCTET_STREAM, "Content-Range": value}
        return client.put(url, content=data, headers=headers)

    return send


def get_blob_range(value: str) -> Request:
    def send(client: httpx.Client, world: World) -> httpx.Response:
        return client.get(blob_url(world.repo, world.blob), headers={"Range": value})

    return send


def get_path(path: str, **params: str) -> Request:
    def send(client: httpx.Client, world: World) -> httpx.Response:
        url = path.format(repo=world.repo, digest=world.manifest.digest)
        return client.get(with_query(url, **params) if params else url)

    return send


def request(method: str, path: str, body: bytes = b"", **headers: str) -> Request:
    def send(client: httpx.Client, world: World) -> httpx.Response:
        url = path.format(repo=world.repo, digest=world.manifest.digest, upload=world.upload)
        return client.request(method, url, content=body or None, headers=headers)

    return send


def put_manifest_as(content_type: str | None, body: bytes | None = None, **params: str) -> Request:
    def send(client: httpx.Client, world: World) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        url = f"/v2/{world.repo}/manifests/fuzz"
        return client.put(
            with_query(url, **params) if params else url,
            content=world.manifest.body if body is None else body,
            headers=headers,
        )

    return send


def mount(**params: str) -> Request:
    def send(client: httpx.Client, world: World) -> httpx.Response:
        return start_upload(client, world.repo, **params)

    return send


HUGE = "9" * 40
MALFORMED_REQUESTS: dict[str, Request] = {
    "tags-n-not-a-number": get_path("/v2/{repo}/tags/list", n="abc"),
    "tags-n-negative": get_path("/v2/{repo}/tags/list", n="-1"),
    "tags-n-huge": get_path("/v2/{repo}/tags/list", n=HUGE),
    "tags-n-fraction": get_path("/v2/{repo}/tags/list", n="1.5"),
    "tags-n-empty": get_path("/v2/{repo}/tags/list", n=""),
    "tags-last-invalid": get_path("/v2/{repo}/tags/list", last="!!bad!!"),
    "tags-last-long": get_path("/v2/{repo}/tags/list", last="x" * 5000),
    "catalog-n-not-a-number": get_path("/v2/_catalog", n="abc"),
    "catalog-n-negative": get_path("/v2/_catalog", n="-5"),
    "catalog-n-huge": get_path("/v2/_catalog", n=HUGE),
    "catalog-last-invalid": get_path("/v2/_catalog", last="UPPER//case"),
    "content-range-junk": patch_with_range("abc"),
    "content-range-reversed": patch_with_range("15-10"),
    "content-range-open": patch_with_range("10-"),
    "content-range-negative": patch_with_range("-5"),
    "content-range-http-style": patch_with_range("bytes 10-19/*"),
    "content-range-wrong-length": patch_with_range("10-9999"),
    "content-range-huge": patch_with_range(f"{HUGE}-{HUGE}9"),
    "put-content-range-junk": put_with_range("junk"),
    "put-content-range-huge": put_with_range(f"{HUGE}-{HUGE}9"),
    "range-junk": get_blob_range("bytes=abc"),
    "range-reversed": get_blob_range("bytes=5-2"),
    "range-unknown-unit": get_blob_range("items=0-1"),
    "range-multiple": get_blob_range("bytes=0-1,4-5"),
    "range-huge": get_blob_range(f"bytes={HUGE}-"),
    "range-empty": get_blob_range(""),
    "mount-malformed-digest": mount(mount="sha256:xyz", **{"from": "other"}),
    "mount-from-invalid-name": mount(mount=digest_of(b"x"), **{"from": "UPPER"}),
    "mount-empty": mount(mount="", **{"from": ""}),
    "digest-empty": mount(digest=""),
    "manifest-no-content-type": put_manifest_as(None),
    "manifest-text-plain": put_manifest_as("text/plain"),
    "manifest-application-json": put_manifest_as("application/json"),
    "manifest-garbage-content-type": put_manifest_as(";;;=="),
    "manifest-empty-tag-param": put_manifest_as(OCI_MANIFEST, tag=""),
    "manifest-binary-body": put_manifest_as(OCI_MANIFEST, bytes(range(256))),
    "manifest-huge-number": put_manifest_as(OCI_MANIFEST, b'{"schemaVersion": 1e999}'),
    "manifest-nan": put_manifest_as(OCI_MANIFEST, b'{"schemaVersion": NaN}'),
    "manifest-duplicate-keys": put_manifest_as(
        OCI_MANIFEST, b'{"schemaVersion": 2, "schemaVersion": 2, "config": 1}'
    ),
    "ns-parameter": get_path("/v2/{repo}/manifests/v1", ns="registry.example.com"),
    "accept-garbage": request("GET", "/v2/{repo}/manifests/v1", Accept=";;;q=abc,,,"),
    "referrers-empty-artifact-type": get_path("/v2/{repo}/referrers/{digest}", artifactType=""),
    "referrers-unknown-repository": get_path("/v2/nobody-here/referrers/{digest}"),
    "empty-digest": get_path("/v2/{repo}/blobs/"),
    "empty-reference": get_path("/v2/{repo}/manifests/"),
    "unknown-endpoint": get_path("/v2/{repo}/nonsense"),
    "catalog-extra-segment": get_path("/v2/_catalog/extra"),
    "encoded-dot-dot": get_path("/v2/%2e%2e/tags/list"),
    "encoded-slash": get_path("/v2/a%2Fb/tags/list"),
    "nul-byte": get_path("/v2/{repo}/manifests/v1%00"),
    "very-long-name": get_path("/v2/" + "a" * 5000 + "/tags/list"),
    "very-long-nested-name": get_path("/v2/" + "/".join(["a"] * 1000) + "/tags/list"),
    "upload-without-id": request("DELETE", "/v2/{repo}/blobs/uploads/"),
    "upload-id-garbage": request("GET", "/v2/{repo}/blobs/uploads/..%2F..%2Fetc"),
    "upload-id-long": request("GET", "/v2/{repo}/blobs/uploads/" + "f" * 5000),
    "patch-manifest": request("PATCH", "/v2/{repo}/manifests/v1", b"x"),
    "post-tags": request("POST", "/v2/{repo}/tags/list", b"x"),
    "put-blob-directly": request("PUT", "/v2/{repo}/blobs/{digest}", b"x"),
    "delete-v2": request("DELETE", "/v2/"),
}


def test_malformed_request_is_not_a_server_error(client: httpx.Client, world: World) -> None:
    """Issue 2: "a malformed request never produces a 500 or a traceback"."""

    def check(send: Request) -> None:
        response = send(client, world)
        assert response.status_code < 500, describe(response)

    check_each(MALFORMED_REQUESTS, check)


def test_malformed_request_error_uses_spec_codes(client: httpx.Client, world: World) -> None:
    """Spec: "If the response body is in JSON format, it MUST have the following format"
    ... "The `code` field MUST be one of the following" (the 14 codes of the table, plus the
    legacy `TAG_INVALID`/`MANIFEST_UNVERIFIED` clients "MAY encounter").
    """

    def check(send: Request) -> None:
        response = send(client, world)
        if response.status_code < 500:
            assert_not_server_error(response)

    check_each(MALFORMED_REQUESTS, check)


def test_bad_pagination_number_is_400_or_ignored(client: httpx.Client, world: World) -> None:
    """A bad `n` is either refused with a 400 in the OCI format or handled as if absent or
    clamped (200 with a valid tags list) -- never a 5xx."""

    def check(value: str) -> None:
        response = list_tags(client, world.repo, n=value)
        if response.status_code == 200:
            assert response.json()["tags"] in (["v1"], [], None), describe(response)
        else:
            assert response.status_code == 400, describe(response)
            error_codes(response)

    check_each({"n-not-a-number": "abc", "n-negative": "-1", "n-huge": HUGE}, check)
