"""Digests: sha256 and sha512 verified on every upload; invalid and unsupported digests."""

from __future__ import annotations

import httpx
import pytest

from .helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    OCTET_STREAM,
    Manifest,
    assert_error,
    blob_url,
    check_each,
    config_blob,
    describe,
    descriptor,
    digest_matches,
    digest_of,
    encode,
    get_manifest,
    head_manifest,
    make_image_manifest,
    patch_chunk,
    push_blob,
    push_chunked,
    put_manifest,
    put_upload,
    random_bytes,
    unique_repo,
    upload_location,
    with_query,
)

#: Digests that break the OCI image spec's digest grammar or a registered algorithm's rules.
MALFORMED_DIGESTS = {
    "non-hex": "sha256:" + "z" * 64,
    "too-short": "sha256:" + "a" * 63,
    "too-long": "sha256:" + "a" * 65,
    "uppercase-hex": "sha256:" + "A" * 64,
    "sha512-wrong-length": "sha512:" + "a" * 64,
    "no-colon": "sha256",
    "empty-encoded": "sha256:",
    "empty-algorithm": ":" + "a" * 64,
    "uppercase-algorithm": "SHA256:" + "a" * 64,
}
#: Grammatically valid digests whose algorithm Cargobay does not support.
UNSUPPORTED_DIGESTS = {
    "md5": "md5:" + "a" * 32,
    "sha1": "sha1:" + "a" * 40,
    "unregistered": "unknown+algorithm:" + "a" * 64,
}
INVALID_DIGESTS = MALFORMED_DIGESTS | UNSUPPORTED_DIGESTS
#: Malformed digests that cannot be read as a tag either (a tag has no ':').
MALFORMED_REFERENCES = {key: value for key, value in MALFORMED_DIGESTS.items() if ":" in value}


@pytest.fixture
def repo() -> str:
    return unique_repo()


# --- sha512 --------------------------------------------------------------------------------


def test_sha512_post_then_put(client: httpx.Client, repo: str) -> None:
    """Spec: "When pushing a blob with a digest algorithm other than `sha256`, the post request
    SHOULD include the `digest-algorithm` parameter" (e.g. `digest-algorithm=sha512`); the
    closing PUT then names the sha512 digest and the blob is pullable by it.
    """
    data = random_bytes()
    digest = push_blob(client, repo, data, algorithm="sha512")
    response = client.get(blob_url(repo, digest))
    assert response.status_code == 200, describe(response)
    assert response.content == data


def test_sha512_blob_digest_header_matches_body(client: httpx.Client, repo: str) -> None:
    """Spec: "If present, the value of this header MUST be a digest matching that of the
    response body." (a sha512 or sha256 digest of the content both match)
    """
    data = random_bytes()
    digest = push_blob(client, repo, data, algorithm="sha512")
    response = client.head(blob_url(repo, digest))
    assert response.status_code == 200, describe(response)
    header = response.headers.get("docker-content-digest")
    assert header is not None and digest_matches(header, data), describe(response)


def test_sha512_monolithic_post(client: httpx.Client, repo: str) -> None:
    """Spec: single POST to `/v2/<name>/blobs/uploads/?digest=<digest>` -- with a sha512
    digest, verified and stored under it.
    """
    data = random_bytes()
    digest = digest_of(data, "sha512")
    response = client.post(
        with_query(f"/v2/{repo}/blobs/uploads/", digest=digest),
        content=data,
        headers={"Content-Type": OCTET_STREAM},
    )
    assert response.status_code == 201, describe(response)
    assert client.get(blob_url(repo, digest)).content == data


def test_sha512_chunked_upload(client: httpx.Client, repo: str) -> None:
    """Spec: `?digest-algorithm=sha512` on the POST of a chunked upload; the whole-blob
    sha512 digest closes it.
    """
    data = random_bytes(100)
    response = push_chunked(client, repo, data, chunk_size=30, algorithm="sha512")
    assert response.status_code == 201, describe(response)
    assert client.get(blob_url(repo, digest_of(data, "sha512"))).content == data


def test_sha512_without_digest_algorithm_parameter(client: httpx.Client, repo: str) -> None:
    """The `digest-algorithm` parameter is only a SHOULD for clients; issue 2 requires sha512
    digests "verified on every upload", so a plain session closed with a sha512 digest works.
    """
    data = random_bytes()
    digest = digest_of(data, "sha512")
    response = put_upload(client, upload_location(client, repo), digest, data)
    assert response.status_code == 201, describe(response)
    assert client.get(blob_url(repo, digest)).content == data


def test_sha512_mismatch_returns_400_digest_invalid(client: httpx.Client, repo: str) -> None:
    """Error code-4 `DIGEST_INVALID`: "provided digest did not match uploaded content"."""
    location = upload_location(client, repo, **{"digest-algorithm": "sha512"})
    response = put_upload(client, location, digest_of(random_bytes(), "sha512"), random_bytes())
    assert_error(response, 400, "DIGEST_INVALID")


def test_sha512_manifest_put_by_digest(client: httpx.Client, repo: str) -> None:
    """Spec: "The Docker-Content-Digest header returns the digest of the uploaded blob, and
    MUST be equal to the client provided digest." -- for a sha512 manifest reference too.
    """
    config = config_blob()
    push_blob(client, repo, config)
    body = encode(make_image_manifest(descriptor(OCI_CONFIG, config), []))
    digest = digest_of(body, "sha512")
    response = put_manifest(client, repo, digest, body, OCI_MANIFEST)
    assert response.status_code == 201, describe(response)
    assert response.headers.get("docker-content-digest") == digest


def test_sha512_manifest_pullable_by_its_digest(client: httpx.Client, repo: str) -> None:
    """Spec: "`<tag-or-digest>` MUST be either (a) the digest of the manifest or (b) a tag" --
    a sha512 digest reference pulls the exact bytes.
    """
    config = config_blob()
    push_blob(client, repo, config)
    body = encode(make_image_manifest(descriptor(OCI_CONFIG, config), []))
    digest = digest_of(body, "sha512")
    assert put_manifest(client, repo, digest, body, OCI_MANIFEST).status_code == 201
    response = get_manifest(client, repo, digest)
    assert response.status_code == 200, describe(response)
    assert response.content == body
    header = response.headers.get("docker-content-digest")
    assert header is not None and digest_matches(header, body)
    assert head_manifest(client, repo, digest).status_code == 200


def test_manifest_may_reference_sha512_blobs(client: httpx.Client, repo: str) -> None:
    """A descriptor's digest may use any supported algorithm (image spec, descriptor
    `digest`); a manifest whose config and layer are sha512 blobs is accepted.
    """
    config, layer = config_blob(), random_bytes()
    config_digest = push_blob(client, repo, config, algorithm="sha512")
    layer_digest = push_blob(client, repo, layer, algorithm="sha512")
    document = make_image_manifest(
        {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
        [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    )
    manifest = Manifest(encode(document), OCI_MANIFEST)
    response = put_manifest(client, repo, "sha512-blobs", manifest.body, OCI_MANIFEST)
    assert response.status_code == 201, describe(response)


# --- mismatches ----------------------------------------------------------------------------


def test_mismatched_digest_on_put_returns_400_digest_invalid(
    client: httpx.Client, repo: str
) -> None:
    """Error code-4 `DIGEST_INVALID`: "provided digest did not match uploaded content";
    spec: "if the client provided digest is invalid ... the registry SHOULD respond with a
    response code `400 Bad Request`."
    """
    response = put_upload(
        client, upload_location(client, repo), digest_of(random_bytes()), random_bytes()
    )
    assert_error(response, 400, "DIGEST_INVALID")


def test_mismatched_digest_on_monolithic_post_returns_400(client: httpx.Client, repo: str) -> None:
    """Spec: "Likewise, the `<digest>` MUST match the blob's digest." -- a wrong one is
    `DIGEST_INVALID` ("provided digest did not match uploaded content"), 400.
    """
    response = client.post(
        with_query(f"/v2/{repo}/blobs/uploads/", digest=digest_of(random_bytes())),
        content=random_bytes(),
        headers={"Content-Type": OCTET_STREAM},
    )
    assert_error(response, 400, "DIGEST_INVALID")


def test_mismatched_digest_closing_chunked_upload_returns_400(
    client: httpx.Client, repo: str
) -> None:
    """Spec: "The closing `PUT` request MUST include the `<digest>` of the whole blob (not the
    final chunk)" -- the digest of the last chunk alone does not match: `DIGEST_INVALID`.
    """
    data = random_bytes(20)
    chunk = patch_chunk(client, upload_location(client, repo), data[:10], 0)
    response = put_upload(client, chunk.headers["location"], digest_of(data[10:]), data[10:])
    assert_error(response, 400, "DIGEST_INVALID")


def test_mismatched_digest_stores_nothing(client: httpx.Client, repo: str) -> None:
    """A rejected upload leaves no blob under either the claimed or the actual digest."""
    data, claimed = random_bytes(), digest_of(random_bytes())
    response = put_upload(client, upload_location(client, repo), claimed, data)
    assert response.status_code == 400, describe(response)
    assert client.head(blob_url(repo, claimed)).status_code == 404
    assert client.head(blob_url(repo, digest_of(data))).status_code == 404


def test_mismatched_manifest_digest_returns_400(client: httpx.Client, repo: str) -> None:
    """Spec: the manifest's Docker-Content-Digest "MUST be equal to the client provided
    digest", so a manifest PUT to a digest that is not its own is refused: 400
    `DIGEST_INVALID` (detail.md also allows `MANIFEST_INVALID` for failed checks).
    """
    config = config_blob()
    push_blob(client, repo, config)
    body = encode(make_image_manifest(descriptor(OCI_CONFIG, config), []))
    response = put_manifest(client, repo, digest_of(random_bytes()), body, OCI_MANIFEST)
    assert_error(response, 400, "DIGEST_INVALID", "MANIFEST_INVALID")


# --- invalid and unsupported digests ----------------------------------------------------------


def test_invalid_digest_on_put_returns_400_digest_invalid(client: httpx.Client, repo: str) -> None:
    """Spec: "if the client provided digest is invalid or uses an unsupported algorithm, the
    registry SHOULD respond with a response code `400 Bad Request`." (code `DIGEST_INVALID`)
    """

    def check(digest: str) -> None:
        response = put_upload(client, upload_location(client, repo), digest, random_bytes())
        assert_error(response, 400, "DIGEST_INVALID")

    check_each(INVALID_DIGESTS, check)


def test_invalid_digest_on_monolithic_post_returns_400_digest_invalid(
    client: httpx.Client, repo: str
) -> None:
    """Spec: "In each implementation, if the client provided digest is invalid or uses an
    unsupported algorithm, the registry SHOULD respond with a response code
    `400 Bad Request`."
    """

    def check(digest: str) -> None:
        response = client.post(
            with_query(f"/v2/{repo}/blobs/uploads/", digest=digest),
            content=random_bytes(),
            headers={"Content-Type": OCTET_STREAM},
        )
        assert_error(response, 400, "DIGEST_INVALID")

    check_each(INVALID_DIGESTS, check)


def assert_invalid_digest_read(response: httpx.Response) -> None:
    if response.status_code == 400:
        assert_error(response, 400, "DIGEST_INVALID")
    else:
        assert_error(response, 404, "BLOB_UNKNOWN")


def test_get_blob_with_invalid_digest_is_400_or_404(client: httpx.Client, repo: str) -> None:
    """Reading a blob under an invalid digest: 400 `DIGEST_INVALID` or 404 `BLOB_UNKNOWN`.

    Interpretation: for writes the spec says 400 ("if the client provided digest is invalid
    or uses an unsupported algorithm ... SHOULD respond with ... `400 Bad Request`").  For
    reads it only says "If the blob is not found in the repository, the response code MUST
    be `404 Not Found`" -- true of any digest no blob can have -- while the historical
    detail.md lists `400` with `DIGEST_INVALID` for "Fetch Blob".  Both are accepted, each
    with its matching code; anything else (200, 5xx, a non-OCI body) fails.
    """
    push_blob(client, repo, random_bytes())
    check_each(
        INVALID_DIGESTS,
        lambda digest: assert_invalid_digest_read(client.get(blob_url(repo, digest))),
    )


def test_head_blob_with_invalid_digest_is_400_or_404(client: httpx.Client, repo: str) -> None:
    """As for GET (see ``test_get_blob_with_invalid_digest_is_400_or_404``), without a body."""
    push_blob(client, repo, random_bytes())

    def check(digest: str) -> None:
        response = client.head(blob_url(repo, digest))
        assert response.status_code in {400, 404}, describe(response)

    check_each(INVALID_DIGESTS, check)


def test_delete_blob_with_invalid_digest_is_400_or_404(client: httpx.Client, repo: str) -> None:
    """detail.md "DELETE Blob": "Invalid Name or Digest" is a 400 (`DIGEST_INVALID`); 404
    `BLOB_UNKNOWN` ("If the blob is not found, a `404 Not Found` code MUST be returned") is
    accepted too, as for GET.
    """
    push_blob(client, repo, random_bytes())
    check_each(
        INVALID_DIGESTS,
        lambda digest: assert_invalid_digest_read(client.delete(blob_url(repo, digest))),
    )


def test_manifest_put_with_malformed_digest_reference_is_rejected(
    client: httpx.Client, repo: str
) -> None:
    """Spec: "`<tag-or-digest>` MUST be either (a) the digest of the manifest or (b) a tag.
    The `<tag-or-digest>` MUST NOT be in any other format." -- 400, with `DIGEST_INVALID`,
    `MANIFEST_INVALID` or (legacy) `TAG_INVALID`.
    """
    config = config_blob()
    push_blob(client, repo, config)
    body = encode(make_image_manifest(descriptor(OCI_CONFIG, config), []))

    def check(digest: str) -> None:
        response = put_manifest(client, repo, digest, body, OCI_MANIFEST)
        assert_error(response, 400, "DIGEST_INVALID", "MANIFEST_INVALID", "TAG_INVALID")

    check_each(MALFORMED_REFERENCES, check)


def test_digest_algorithm_parameter_with_bad_value_is_refused_or_ignored(
    client: httpx.Client, repo: str
) -> None:
    """end-4c fails with 404/400 -- never a 5xx; a bad `digest-algorithm` is either refused
    (400) or ignored (202).
    """

    def check(algorithm: str) -> None:
        response = client.post(
            with_query(f"/v2/{repo}/blobs/uploads/", **{"digest-algorithm": algorithm}),
            content=b"",
        )
        assert response.status_code in {202, 400}, describe(response)

    algorithms = {name: digest.split(":")[0] for name, digest in INVALID_DIGESTS.items()}
    check_each(algorithms | {"empty": ""}, check)
