"""OCI Distribution operations, done the way real clients do them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from regbench.blobs import BlobFile
from regbench.client import BenchError, Client, Response, location_target, with_query
from regbench.mediatypes import OCTET

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_MAX_REDIRECTS = 3


def start_upload(client: Client, repo: str) -> str:
    resp = client.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"")
    return _location(resp.expect(202, what="POST upload"))


def push_blob_monolithic(client: Client, repo: str, blob: BlobFile) -> None:
    """POST a session, then PUT ?digest= with the whole blob streamed from disk."""
    target = with_query(start_upload(client, repo), "digest", blob.digest)
    with blob.open() as f:
        resp = client.send_file("PUT", target, {"Content-Type": OCTET}, f, 0, blob.size)
    resp.expect(201, what="PUT blob")


def push_blob_chunked(client: Client, repo: str, blob: BlobFile, chunk: int) -> None:
    """POST, then one PATCH per chunk with Content-Range, then an empty PUT ?digest=."""
    target = start_upload(client, repo)
    with blob.open() as f:
        for start in range(0, blob.size, chunk):
            length = min(chunk, blob.size - start)
            headers = {
                "Content-Type": OCTET,
                "Content-Range": f"{start}-{start + length - 1}",
            }
            resp = client.send_file("PATCH", target, headers, f, start, length)
            target = _location(resp.expect(202, what=f"PATCH chunk at {start}"))
    resp = client.request("PUT", with_query(target, "digest", blob.digest), body=b"")
    resp.expect(201, what="PUT to close chunked upload")


def push_small_blob(client: Client, repo: str, data: bytes, digest: str) -> None:
    """HEAD, POST, PUT ?digest= with the body: what containerd does per layer."""
    head = client.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    if head.status == 200:
        return
    head.expect(404, what="HEAD blob")
    target = with_query(start_upload(client, repo), "digest", digest)
    client.request("PUT", target, {"Content-Type": OCTET}, data).expect(201, what="PUT blob")


def put_manifest(client: Client, repo: str, ref: str, body: bytes, media_type: str) -> None:
    resp = client.request("PUT", f"/v2/{repo}/manifests/{ref}", {"Content-Type": media_type}, body)
    resp.expect(201, what=f"PUT manifest {ref}")


def get_manifest(client: Client, repo: str, ref: str, accept: str) -> Response:
    resp = client.request("GET", f"/v2/{repo}/manifests/{ref}", {"Accept": accept})
    return resp.expect(200, what=f"GET manifest {ref}")


def blob_size(client: Client, repo: str, digest: str) -> int:
    resp = client.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    resp.expect(200, 307, what="HEAD blob")
    return int(resp.header("Content-Length") or -1)


def pull_blob(
    client: Client,
    repo: str,
    digest: str,
    sink: Callable[[memoryview], object] | None = None,
) -> int:
    """GET a blob, following redirects (a registry may hand out a file URL); return bytes."""
    target = f"/v2/{repo}/blobs/{digest}"
    current = client
    try:
        for _ in range(_MAX_REDIRECTS + 1):
            resp, size = current.get_stream(target, sink=sink)
            if resp.status in (301, 302, 303, 307, 308):
                current, target = _follow(client, current, resp)
                continue
            resp.expect(200, what="GET blob")
            return size
    finally:
        if current is not client:
            current.close()
    raise BenchError("GET blob: too many redirects")


def list_tags_paged(client: Client, repo: str, page: int) -> tuple[list[str], int]:
    """Follow Link rel=next from ?n=page; return all tags and the number of requests."""
    target: str | None = f"/v2/{repo}/tags/list?n={page}"
    tags: list[str] = []
    requests = 0
    while target is not None:
        resp = client.request("GET", target).expect(200, what="GET tags/list")
        requests += 1
        tags.extend(json.loads(resp.body).get("tags") or [])
        target = _next_link(resp)
    return tags, requests


def list_tags_all(client: Client, repo: str) -> list[str]:
    resp = client.request("GET", f"/v2/{repo}/tags/list").expect(200, what="GET tags/list")
    return json.loads(resp.body).get("tags") or []


def _location(resp: Response) -> str:
    location = resp.header("Location")
    if not location:
        raise BenchError(f"HTTP {resp.status} without a Location header")
    return location_target(location)


def _next_link(resp: Response) -> str | None:
    match = _LINK_NEXT.search(resp.header("Link") or "")
    return location_target(match.group(1)) if match else None


def _follow(origin: Client, current: Client, resp: Response) -> tuple[Client, str]:
    location = resp.header("Location") or ""
    parts = urlsplit(location)
    if current is not origin:
        current.close()
    if parts.hostname and (parts.hostname, parts.port) != (origin.host, origin.port):
        # Only loopback targets are allowed: refuse anything else.
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise BenchError(f"redirect off loopback refused: {location}")
        client = Client(parts.hostname, parts.port or 80, default_headers=origin.default_headers)
        return client, location_target(location)
    return origin, location_target(location)
