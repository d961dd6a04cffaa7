"""Pulling, checking and deleting blobs (end-2, end-10), Range requests, repository scope."""

from __future__ import annotations

import httpx
import pytest

from .helpers import (
    assert_error,
    blob_url,
    describe,
    digest_matches,
    digest_of,
    push_blob,
    random_bytes,
    unique_repo,
)

SIZE = 64


@pytest.fixture
def repo() -> str:
    return unique_repo()


@pytest.fixture
def blob(client: httpx.Client, repo: str) -> tuple[str, bytes]:
    data = random_bytes(SIZE)
    return push_blob(client, repo, data), data


# --- GET / HEAD ------------------------------------------------------------------------------


def test_get_blob_returns_200_and_the_blob(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Spec: "A GET request to an existing blob URL MUST provide the expected blob, with a
    response code that MUST be `200 OK`."
    """
    digest, data = blob
    response = client.get(blob_url(repo, digest))
    assert response.status_code == 200, describe(response)
    assert response.content == data


def test_get_blob_has_docker_content_digest_matching_body(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Spec: "A successful response MUST contain the digest of the uploaded blob in the header
    `Docker-Content-Digest`. If present, the value of this header MUST be a digest matching
    that of the response body."
    """
    digest, _ = blob
    response = client.get(blob_url(repo, digest))
    header = response.headers.get("docker-content-digest")
    assert header is not None, describe(response)
    assert digest_matches(header, response.content)


def test_head_blob_returns_200_without_body(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Spec: "A HEAD request to an existing blob or manifest URL MUST return `200 OK`." """
    response = client.head(blob_url(repo, blob[0]))
    assert response.status_code == 200, describe(response)
    assert response.content == b""


def test_head_blob_has_docker_content_digest(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Spec: "A successful response MUST contain the digest of the uploaded blob or manifest in
    the header `Docker-Content-Digest`."
    """
    digest, data = blob
    response = client.head(blob_url(repo, digest))
    header = response.headers.get("docker-content-digest")
    assert header is not None, describe(response)
    assert digest_matches(header, data)


def test_head_blob_has_content_length_of_blob(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Spec: "A successful response MUST contain the size in bytes of the uploaded blob or
    manifest in the header `Content-Length`."
    """
    response = client.head(blob_url(repo, blob[0]))
    assert response.headers.get("content-length") == str(SIZE), describe(response)


def test_get_unknown_blob_returns_404_blob_unknown(client: httpx.Client, repo: str) -> None:
    """Spec: "If the blob is not found in the repository, the response code MUST be
    `404 Not Found`." (code `BLOB_UNKNOWN`, "blob unknown to registry").
    """
    push_blob(client, repo, random_bytes())
    response = client.get(blob_url(repo, digest_of(random_bytes())))
    assert_error(response, 404, "BLOB_UNKNOWN")


def test_head_unknown_blob_returns_404(client: httpx.Client, repo: str) -> None:
    """Spec: "If the blob or manifest is not found in the repository, the response code MUST
    be `404 Not Found`."
    """
    push_blob(client, repo, random_bytes())
    response = client.head(blob_url(repo, digest_of(random_bytes())))
    assert response.status_code == 404, describe(response)
    assert response.content == b""


def test_get_blob_in_unknown_repository_returns_404(client: httpx.Client) -> None:
    """Spec: "If the blob is not found in the repository, the response code MUST be
    `404 Not Found`." -- also when the repository itself does not exist.
    """
    response = client.get(blob_url(unique_repo(), digest_of(random_bytes())))
    assert_error(response, 404, "BLOB_UNKNOWN", "NAME_UNKNOWN")


# --- Range -----------------------------------------------------------------------------------


def get_range(client: httpx.Client, repo: str, digest: str, spec: str) -> httpx.Response:
    return client.get(blob_url(repo, digest), headers={"Range": spec})


def test_range_request_returns_206_with_requested_bytes(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Spec: "A registry SHOULD support the `Range` request header in accordance with
    RFC 9110 (section 14)." -- a satisfiable byte range gets `206 Partial Content`.
    """
    digest, data = blob
    response = get_range(client, repo, digest, "bytes=10-19")
    assert response.status_code == 206, describe(response)
    assert response.content == data[10:20]


def test_range_response_has_content_range(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """RFC 9110 section 14.4: a 206 for a single range "MUST generate a Content-Range header
    field" of the form `bytes first-last/complete-length`.
    """
    response = get_range(client, repo, blob[0], "bytes=10-19")
    assert response.headers.get("content-range") == f"bytes 10-19/{SIZE}", describe(response)
    assert response.headers.get("content-length") == "10"


def test_open_ended_range_returns_rest_of_blob(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """RFC 9110 section 14.1.2: `bytes=first-` selects from `first` to the end."""
    digest, data = blob
    response = get_range(client, repo, digest, "bytes=50-")
    assert response.status_code == 206, describe(response)
    assert response.content == data[50:]
    assert response.headers.get("content-range") == f"bytes 50-{SIZE - 1}/{SIZE}"


def test_suffix_range_returns_last_bytes(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """RFC 9110 section 14.1.2: `bytes=-N` selects the final N bytes."""
    digest, data = blob
    response = get_range(client, repo, digest, "bytes=-5")
    assert response.status_code == 206, describe(response)
    assert response.content == data[-5:]


def test_range_past_end_is_truncated(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """RFC 9110 section 14.1.2: a last-pos beyond the end is replaced by the last byte."""
    digest, data = blob
    response = get_range(client, repo, digest, f"bytes=60-{SIZE * 10}")
    assert response.status_code == 206, describe(response)
    assert response.content == data[60:]


def test_unsatisfiable_range_returns_416(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Issue 2: "`GET` (with `Range`: 206, and 416 for unsatisfiable ranges)"; RFC 9110
    section 15.5.17: "none of the ranges in the request's Range header field overlap the
    current extent of the selected resource".
    """
    response = get_range(client, repo, blob[0], f"bytes={SIZE}-{SIZE + 10}")
    assert response.status_code == 416, describe(response)


def test_unsatisfiable_range_reports_complete_length(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """RFC 9110 section 15.5.17: "A server that generates a 416 response to a byte-range
    request SHOULD generate a Content-Range header field specifying the current length of
    the selected representation" (`bytes */length`).
    """
    response = get_range(client, repo, blob[0], f"bytes={SIZE * 2}-")
    assert response.status_code == 416, describe(response)
    assert response.headers.get("content-range") == f"bytes */{SIZE}"


def test_range_on_unknown_blob_returns_404(client: httpx.Client, repo: str) -> None:
    """Spec: "If the blob is not found in the repository, the response code MUST be
    `404 Not Found`." -- a Range header does not change that.
    """
    push_blob(client, repo, random_bytes())
    response = get_range(client, repo, digest_of(random_bytes()), "bytes=0-1")
    assert_error(response, 404, "BLOB_UNKNOWN")


# --- DELETE ----------------------------------------------------------------------------------


def test_delete_blob_returns_202(client: httpx.Client, repo: str, blob: tuple[str, bytes]) -> None:
    """Spec: "To delete a blob ... Upon success, the registry MUST respond with code
    `202 Accepted`."
    """
    response = client.delete(blob_url(repo, blob[0]))
    assert response.status_code == 202, describe(response)


def test_deleted_blob_is_not_found(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Spec (pull): "If the blob is not found in the repository, the response code MUST be
    `404 Not Found`." -- which a deleted blob no longer is.
    """
    url = blob_url(repo, blob[0])
    assert client.delete(url).status_code == 202
    assert client.head(url).status_code == 404
    assert_error(client.get(url), 404, "BLOB_UNKNOWN")


def test_delete_unknown_blob_returns_404(client: httpx.Client, repo: str) -> None:
    """Spec: "If the blob is not found, a `404 Not Found` code MUST be returned." """
    push_blob(client, repo, random_bytes())
    response = client.delete(blob_url(repo, digest_of(random_bytes())))
    assert_error(response, 404, "BLOB_UNKNOWN")


def test_deleted_blob_can_be_pushed_again(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """After a delete the repository no longer holds the blob, so a new push must work."""
    digest, data = blob
    assert client.delete(blob_url(repo, digest)).status_code == 202
    assert push_blob(client, repo, data) == digest
    assert client.get(blob_url(repo, digest)).content == data


# --- repository scope ------------------------------------------------------------------------


def test_blob_is_not_visible_in_another_repository(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """Issue 2: "A blob is visible only in the repositories it was pushed or mounted into";
    spec: "If the blob is not found in the repository, the response code MUST be 404".
    """
    other = unique_repo()
    push_blob(client, other, random_bytes())
    url = blob_url(other, blob[0])
    assert client.head(url).status_code == 404
    assert_error(client.get(url), 404, "BLOB_UNKNOWN")


def test_blob_is_not_visible_in_a_repository_that_does_not_exist(
    client: httpx.Client, blob: tuple[str, bytes]
) -> None:
    """Issue 2: "A blob is visible only in the repositories it was pushed or mounted into"."""
    response = client.get(blob_url(unique_repo(), blob[0]))
    assert response.status_code == 404, describe(response)


def test_delete_in_one_repository_keeps_blob_in_another(
    client: httpx.Client, repo: str, blob: tuple[str, bytes]
) -> None:
    """A blob delete acts on "the blob identified by `name` and `digest`": pushing the same
    content to two repositories and deleting it from one leaves the other intact.
    """
    digest, data = blob
    other = unique_repo()
    push_blob(client, other, data)
    assert client.delete(blob_url(repo, digest)).status_code == 202
    response = client.get(blob_url(other, digest))
    assert response.status_code == 200, describe(response)
    assert response.content == data
