"""Pushing blobs: upload sessions, monolithic, chunked and streamed uploads (end-4 .. end-6,
end-13, end-14)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from .helpers import (
    OCTET_STREAM,
    assert_error,
    blob_url,
    contains_uuid,
    describe,
    digest_of,
    patch_chunk,
    push_blob,
    push_chunked,
    put_upload,
    random_bytes,
    start_upload,
    unique_repo,
    upload_location,
    with_query,
)


@pytest.fixture
def repo() -> str:
    return unique_repo()


def assert_blob(client: httpx.Client, repo: str, data: bytes) -> None:
    """The blob is now pullable from the repository, byte for byte."""
    response = client.get(blob_url(repo, digest_of(data)))
    assert response.status_code == 200, describe(response)
    assert response.content == data


def assert_upload_gone(client: httpx.Client, location: str) -> None:
    """The session no longer exists: status is 404 BLOB_UPLOAD_UNKNOWN."""
    assert_error(client.get(location), 404, "BLOB_UPLOAD_UNKNOWN")


# --- session start ---------------------------------------------------------------------------


def test_post_upload_returns_202_with_location(client: httpx.Client, repo: str) -> None:
    """Spec: "Upon success, the response MUST have a code of `202 Accepted`, and MUST include
    the following header: `Location: <blob-push-location>`".
    """
    response = start_upload(client, repo)
    assert response.status_code == 202, describe(response)
    assert response.headers.get("location"), describe(response)


def test_upload_location_contains_a_unique_session_id(client: httpx.Client, repo: str) -> None:
    """Spec: "The `<blob-push-location>` MUST contain a UUID representing a unique session ID
    for the upload to follow."  Two sessions get two different locations, each with a UUID.
    """
    first = upload_location(client, repo)
    second = upload_location(client, repo)
    assert first != second
    assert contains_uuid(first), first
    assert contains_uuid(second), second


def test_chunk_min_length_header_is_a_byte_count_if_present(
    client: httpx.Client, repo: str
) -> None:
    """Spec: "If the registry has a minimum chunk size, the `POST` response SHOULD include the
    following header, where `<size>` is the size in bytes: `OCI-Chunk-Min-Length: <size>`".
    """
    response = start_upload(client, repo)
    value = response.headers.get("oci-chunk-min-length")
    assert value is None or value.isdigit(), describe(response)


# --- POST then PUT ---------------------------------------------------------------------------


def test_post_then_put_returns_201_with_location(client: httpx.Client, repo: str) -> None:
    """Spec: "Upon successful completion of the request, the response MUST have code
    `201 Created` and MUST have the following header: `Location: <blob-location>`".
    """
    data = random_bytes()
    response = put_upload(client, upload_location(client, repo), digest_of(data), data)
    assert response.status_code == 201, describe(response)
    assert response.headers.get("location"), describe(response)


def test_post_then_put_location_is_a_pullable_blob_url(client: httpx.Client, repo: str) -> None:
    """Spec: "With `<blob-location>` being a pullable blob URL." """
    data = random_bytes()
    response = put_upload(client, upload_location(client, repo), digest_of(data), data)
    pulled = client.get(response.headers["location"])
    assert pulled.status_code == 200, describe(pulled)
    assert pulled.content == data


def test_post_then_put_stores_the_blob(client: httpx.Client, repo: str) -> None:
    """Spec: "A GET request to an existing blob URL MUST provide the expected blob"."""
    data = random_bytes(1000)
    push_blob(client, repo, data)
    assert_blob(client, repo, data)


def test_zero_length_blob_can_be_pushed(client: httpx.Client, repo: str) -> None:
    """Spec: "`<length>` is its size in bytes" -- zero is a size like any other."""
    response = put_upload(client, upload_location(client, repo), digest_of(b""))
    assert response.status_code == 201, describe(response)
    assert_blob(client, repo, b"")


def test_pushing_an_existing_blob_again_succeeds(client: httpx.Client, repo: str) -> None:
    """Spec use case "Layer Upload De-duplication": both uploads of identical content are
    accepted and "the registry may securely only store one copy".
    """
    data = random_bytes()
    push_blob(client, repo, data)
    push_blob(client, repo, data)
    assert_blob(client, repo, data)


def test_put_without_digest_is_rejected(client: httpx.Client, repo: str) -> None:
    """Spec: "The closing `PUT` request MUST include the `<digest>` of the whole blob (not
    the final chunk) as a query parameter."  Without one the registry cannot verify the
    content, so it must not create a blob: 400 (`DIGEST_INVALID` or `BLOB_UPLOAD_INVALID`).
    """
    location = upload_location(client, repo)
    response = client.put(location, content=random_bytes(), headers={"Content-Type": OCTET_STREAM})
    assert_error(response, 400, "DIGEST_INVALID", "BLOB_UPLOAD_INVALID")


# --- single POST -----------------------------------------------------------------------------


def test_monolithic_post_returns_201_with_location(client: httpx.Client, repo: str) -> None:
    """Spec: "Successful completion of the request MUST return a `201 Created` and MUST
    include the following header: `Location: <blob-location>`".  (Single POST is a MAY in
    the spec; issue 2 requires it: "monolithic with `?digest=`".)
    """
    data = random_bytes()
    response = client.post(
        with_query(f"/v2/{repo}/blobs/uploads/", digest=digest_of(data)),
        content=data,
        headers={"Content-Type": OCTET_STREAM},
    )
    assert response.status_code == 201, describe(response)
    assert response.headers.get("location"), describe(response)


def test_monolithic_post_location_is_pullable(client: httpx.Client, repo: str) -> None:
    """Spec: "Here, `<blob-location>` is a pullable blob URL." """
    data = random_bytes()
    response = client.post(
        with_query(f"/v2/{repo}/blobs/uploads/", digest=digest_of(data)),
        content=data,
        headers={"Content-Type": OCTET_STREAM},
    )
    pulled = client.get(response.headers["location"])
    assert pulled.status_code == 200, describe(pulled)
    assert pulled.content == data


# --- chunked ---------------------------------------------------------------------------------


def test_patch_chunk_returns_202_with_location_and_range(client: httpx.Client, repo: str) -> None:
    """Spec: "The response for each successful chunk upload MUST be `202 Accepted`, and MUST
    have the following headers: `Location: <blob-push-location>` `Range: 0-<end-of-range>`".
    """
    response = patch_chunk(client, upload_location(client, repo), random_bytes(10), 0)
    assert response.status_code == 202, describe(response)
    assert response.headers.get("location"), describe(response)
    assert response.headers.get("range") == "0-9", describe(response)


def test_range_end_matches_end_of_each_chunk(client: httpx.Client, repo: str) -> None:
    """Spec: "The `<end-of-range>` value is the position of the last uploaded byte of the
    blob, matching the end value of the `Content-Range` in the request."
    """
    location = upload_location(client, repo)
    data = random_bytes(30)
    for start in (0, 10, 20):
        response = patch_chunk(client, location, data[start : start + 10], start)
        assert response.status_code == 202, describe(response)
        assert response.headers.get("range") == f"0-{start + 9}", describe(response)
        location = response.headers["location"]


def test_chunked_upload_closed_by_empty_put(client: httpx.Client, repo: str) -> None:
    """Spec: "Regardless of how the final chunk is uploaded, the session MUST be closed with a
    `PUT` request." ... "The response to a successful closing of the session MUST be
    `201 Created`, and MUST contain the following header: `Location: <blob-location>`".
    """
    data = random_bytes(25)
    response = push_chunked(client, repo, data, chunk_size=10)
    assert response.status_code == 201, describe(response)
    assert response.headers.get("location"), describe(response)
    assert_blob(client, repo, data)


def test_chunked_upload_location_is_pullable(client: httpx.Client, repo: str) -> None:
    """Spec: "Here, `<blob-location>` is a pullable blob URL." (closing a chunked session)."""
    data = random_bytes(25)
    response = push_chunked(client, repo, data, chunk_size=10)
    pulled = client.get(response.headers["location"])
    assert pulled.status_code == 200, describe(pulled)
    assert pulled.content == data


def test_final_chunk_in_put_with_content_range(client: httpx.Client, repo: str) -> None:
    """Spec: "The final chunk MAY be uploaded using a `PATCH` request or it MAY be uploaded in
    the closing `PUT` request." (here with `Content-Range: <range of chunk>`).
    """
    data = random_bytes(25)
    first = patch_chunk(client, upload_location(client, repo), data[:10], 0)
    assert first.status_code == 202, describe(first)
    response = put_upload(
        client,
        first.headers["location"],
        digest_of(data),
        data[10:],
        headers={"Content-Range": f"10-{len(data) - 1}"},
    )
    assert response.status_code == 201, describe(response)
    assert_blob(client, repo, data)


def test_final_chunk_in_put_without_content_range(client: httpx.Client, repo: str) -> None:
    """Spec: "`Content-Range: <range of chunk, if present>`" -- a final chunk sent in the PUT
    without a Content-Range is appended after the bytes already received.
    """
    data = random_bytes(25)
    first = patch_chunk(client, upload_location(client, repo), data[:10], 0)
    assert first.status_code == 202, describe(first)
    response = put_upload(client, first.headers["location"], digest_of(data), data[10:])
    assert response.status_code == 201, describe(response)
    assert_blob(client, repo, data)


def test_chunked_upload_of_several_mebibytes(client: httpx.Client, repo: str) -> None:
    """Spec: "A chunked blob upload is accomplished in three phases" (POST, PATCH..., PUT);
    a 5 MiB blob in 1 MiB chunks plus an odd-sized tail is reassembled exactly.
    """
    data = random_bytes(5 * 1024 * 1024 + 12345)
    response = push_chunked(client, repo, data, chunk_size=1024 * 1024)
    assert response.status_code == 201, describe(response)
    pulled = client.get(blob_url(repo, digest_of(data)))
    assert pulled.status_code == 200
    assert digest_of(pulled.content) == digest_of(data)


# --- out of order ------------------------------------------------------------------------------


def test_first_chunk_not_starting_at_zero_returns_416(client: httpx.Client, repo: str) -> None:
    """Spec: "The first chunk's range MUST begin with `0`." ... "If a chunk is uploaded out of
    order, the registry MUST respond with a `416 Requested Range Not Satisfiable` code."
    """
    response = patch_chunk(client, upload_location(client, repo), random_bytes(10), 5)
    assert response.status_code == 416, describe(response)


def test_out_of_order_chunk_returns_416(client: httpx.Client, repo: str) -> None:
    """Spec: "Chunks MUST be uploaded in order, with the first byte of a chunk being the last
    chunk's `<end-of-range>` plus one. If a chunk is uploaded out of order, the registry MUST
    respond with a `416 Requested Range Not Satisfiable` code."
    """
    first = patch_chunk(client, upload_location(client, repo), random_bytes(10), 0)
    assert first.status_code == 202, describe(first)
    response = patch_chunk(client, first.headers["location"], random_bytes(10), 20)
    assert response.status_code == 416, describe(response)


def test_repeated_chunk_returns_416(client: httpx.Client, repo: str) -> None:
    """Spec: "the first byte of a chunk being the last chunk's `<end-of-range>` plus one" --
    re-sending an already received range is out of order, so 416.
    """
    first = patch_chunk(client, upload_location(client, repo), random_bytes(10), 0)
    assert first.status_code == 202, describe(first)
    response = patch_chunk(client, first.headers["location"], random_bytes(10), 0)
    assert response.status_code == 416, describe(response)


def test_out_of_order_chunk_416_reports_current_range(client: httpx.Client, repo: str) -> None:
    """Issue 2: "416 for out-of-order chunks, with the correct `Range` header" -- the 416
    tells the client how much the registry holds (`Range: 0-<end-of-range>`).
    """
    first = patch_chunk(client, upload_location(client, repo), random_bytes(10), 0)
    assert first.status_code == 202, describe(first)
    response = patch_chunk(client, first.headers["location"], random_bytes(10), 20)
    assert response.status_code == 416, describe(response)
    assert response.headers.get("range") == "0-9", describe(response)


def test_out_of_order_final_chunk_in_put_returns_416(client: httpx.Client, repo: str) -> None:
    """Spec: "If the final chunk is uploaded out of order, the registry MUST respond with a
    `416 Requested Range Not Satisfiable` code."
    """
    data = random_bytes(30)
    first = patch_chunk(client, upload_location(client, repo), data[:10], 0)
    assert first.status_code == 202, describe(first)
    response = put_upload(
        client,
        first.headers["location"],
        digest_of(data),
        data[20:],
        headers={"Content-Range": "20-29"},
    )
    assert response.status_code == 416, describe(response)


def test_upload_resumes_after_416(client: httpx.Client, repo: str) -> None:
    """Spec: "A GET request may be used to retrieve the current valid offset and upload
    location." -- after a 416 the upload continues from that offset and completes intact.
    """
    data = random_bytes(30)
    first = patch_chunk(client, upload_location(client, repo), data[:10], 0)
    assert first.status_code == 202, describe(first)
    rejected = patch_chunk(client, first.headers["location"], data[20:], 20)
    assert rejected.status_code == 416, describe(rejected)
    status = client.get(first.headers["location"])
    assert status.status_code == 204, describe(status)
    offset = int(status.headers["range"].split("-")[1]) + 1
    assert offset == 10
    second = patch_chunk(client, status.headers["location"], data[offset:], offset)
    assert second.status_code == 202, describe(second)
    response = put_upload(client, second.headers["location"], digest_of(data))
    assert response.status_code == 201, describe(response)
    assert_blob(client, repo, data)


# --- streamed --------------------------------------------------------------------------------


def test_streamed_patch_without_content_range(client: httpx.Client, repo: str) -> None:
    """Issue 2: "`PATCH` streamed" -- chunks without `Content-Range` are appended in order
    and each 202 reports `Range: 0-<end-of-range>`.
    """
    data = random_bytes(30)
    location = upload_location(client, repo)
    for start, end in ((0, 10), (10, 30)):
        response = patch_chunk(client, location, data[start:end], None)
        assert response.status_code == 202, describe(response)
        assert response.headers.get("range") == f"0-{end - 1}", describe(response)
        location = response.headers["location"]
    response = put_upload(client, location, digest_of(data))
    assert response.status_code == 201, describe(response)
    assert_blob(client, repo, data)


def test_streamed_patch_with_chunked_transfer_encoding(client: httpx.Client, repo: str) -> None:
    """Issue 2: "`PATCH` streamed" -- a body of unknown length (`Transfer-Encoding: chunked`,
    as Docker sends it) is received in full.
    """
    pieces = [random_bytes(1000) for _ in range(8)]
    data = b"".join(pieces)

    def body() -> Iterator[bytes]:
        yield from pieces

    response = client.patch(
        upload_location(client, repo), content=body(), headers={"Content-Type": OCTET_STREAM}
    )
    assert response.status_code == 202, describe(response)
    assert response.headers.get("range") == f"0-{len(data) - 1}", describe(response)
    closed = put_upload(client, response.headers["location"], digest_of(data))
    assert closed.status_code == 201, describe(closed)
    assert_blob(client, repo, data)


def test_final_chunk_in_put_with_chunked_transfer_encoding(client: httpx.Client, repo: str) -> None:
    """Spec: "it MAY be uploaded in the closing `PUT` request" -- also as a body of unknown
    length (`Transfer-Encoding: chunked`), which carries no `Content-Length`.
    """
    data = random_bytes(3000)
    first = patch_chunk(client, upload_location(client, repo), data[:1000], 0)
    assert first.status_code == 202, describe(first)

    def body() -> Iterator[bytes]:
        yield data[1000:2000]
        yield data[2000:]

    response = client.put(
        with_query(first.headers["location"], digest=digest_of(data)),
        content=body(),
        headers={"Content-Type": OCTET_STREAM},
    )
    assert response.status_code == 201, describe(response)
    assert_blob(client, repo, data)


# --- status ----------------------------------------------------------------------------------


def test_upload_status_returns_204_with_location_and_range(client: httpx.Client, repo: str) -> None:
    """Spec: "The response to an active upload `<blob-push-location>` MUST be a
    `204 No Content` response code, and MUST have the following headers:
    `Location: <blob-push-location>` `Range: 0-<end-of-range>`".
    """
    chunk = patch_chunk(client, upload_location(client, repo), random_bytes(10), 0)
    response = client.get(chunk.headers["location"])
    assert response.status_code == 204, describe(response)
    assert response.headers.get("location"), describe(response)
    assert response.headers.get("range") == "0-9", describe(response)


def test_upload_status_of_new_session_returns_204(client: httpx.Client, repo: str) -> None:
    """Spec: "The response to an active upload `<blob-push-location>` MUST be a
    `204 No Content` response code" -- also before any byte has been sent.
    """
    response = client.get(upload_location(client, repo))
    assert response.status_code == 204, describe(response)
    assert response.headers.get("location"), describe(response)


def test_upload_status_location_can_continue_the_upload(client: httpx.Client, repo: str) -> None:
    """Spec: "The following chunk upload SHOULD use the `<blob-push-location>` provided in the
    response."
    """
    data = random_bytes(20)
    chunk = patch_chunk(client, upload_location(client, repo), data[:10], 0)
    status = client.get(chunk.headers["location"])
    second = patch_chunk(client, status.headers["location"], data[10:], 10)
    assert second.status_code == 202, describe(second)
    response = put_upload(client, second.headers["location"], digest_of(data))
    assert response.status_code == 201, describe(response)
    assert_blob(client, repo, data)


def test_completed_upload_session_is_gone(client: httpx.Client, repo: str) -> None:
    """A closed session is no longer "an active upload": its status is 404
    `BLOB_UPLOAD_UNKNOWN` ("blob upload unknown to registry").
    """
    data = random_bytes()
    location = upload_location(client, repo)
    assert put_upload(client, location, digest_of(data), data).status_code == 201
    assert_upload_gone(client, location)


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_upload_returns_204(client: httpx.Client, repo: str) -> None:
    """Spec: "During a blob upload, the session may be canceled with a `DELETE` request ...
    If successful, the response SHOULD be a `204 No Content` response code."
    """
    location = patch_chunk(client, upload_location(client, repo), random_bytes(), 0).headers[
        "location"
    ]
    response = client.delete(location)
    assert response.status_code == 204, describe(response)


def test_cancelled_upload_is_unknown(client: httpx.Client, repo: str) -> None:
    """After a cancel the session is released: `BLOB_UPLOAD_UNKNOWN` ("If a blob upload has
    been cancelled or was never started, this error code MAY be returned"), status 404.
    """
    location = upload_location(client, repo)
    assert client.delete(location).status_code == 204
    assert_upload_gone(client, location)
    data = random_bytes()
    assert_error(put_upload(client, location, digest_of(data), data), 404, "BLOB_UPLOAD_UNKNOWN")


def test_cancelled_upload_creates_no_blob(client: httpx.Client, repo: str) -> None:
    """A cancelled session leaves nothing behind: the data sent so far is not a blob."""
    data = random_bytes(10)
    chunk = patch_chunk(client, upload_location(client, repo), data, 0)
    assert client.delete(chunk.headers["location"]).status_code == 204
    assert client.head(blob_url(repo, digest_of(data))).status_code == 404


# --- unknown sessions ------------------------------------------------------------------------


def test_upload_session_belongs_to_its_repository(client: httpx.Client, repo: str) -> None:
    """A session is started for "`<name>` ... the namespace of the repository": addressed
    under another repository's path (detail.md's `/v2/<name>/blobs/uploads/<session_id>`)
    it is unknown there, and completing it there must not put a blob into that repository.
    """
    location = upload_location(client, repo)
    other = unique_repo()
    if f"/v2/{repo}/" not in location:
        pytest.skip(f"upload location {location} does not follow /v2/<name>/blobs/uploads/")
    foreign = location.replace(f"/v2/{repo}/", f"/v2/{other}/")
    data = random_bytes()
    response = put_upload(client, foreign, digest_of(data), data)
    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID")
    assert client.head(blob_url(other, digest_of(data))).status_code == 404


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_unknown_upload_id_returns_blob_upload_unknown(
    client: httpx.Client, repo: str, method: str
) -> None:
    """Error code-3 `BLOB_UPLOAD_UNKNOWN`: "blob upload unknown to registry"; end-5/6/13/14
    fail with 404.  The session id is a fresh UUID under the documented
    `/v2/<name>/blobs/uploads/<session_id>` path.
    """
    push_blob(client, repo, random_bytes())
    url = f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}"
    data = random_bytes(10)
    if method == "PUT":
        url = with_query(url, digest=digest_of(data))
    headers = {"Content-Type": OCTET_STREAM}
    if method == "PATCH":
        headers["Content-Range"] = "0-9"
    body = data if method in {"PATCH", "PUT"} else None
    response = client.request(method, url, content=body, headers=headers)
    assert_error(response, 404, "BLOB_UPLOAD_UNKNOWN")
