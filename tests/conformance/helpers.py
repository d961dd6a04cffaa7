"""Helpers for the OCI Distribution conformance tests.

Plain functions taking the client (an ``httpx.Client``; Starlette's ``TestClient`` is one).
They only build requests the way the specification describes them and decode the answers;
every assertion about registry behaviour lives in the tests themselves, except the few
"this step must work" checks the helpers need in order to set up a scenario.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

# --- media types -------------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_NONDISTRIBUTABLE_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCTET_STREAM = "application/octet-stream"

#: The empty JSON object ``{}`` -- the OCI image spec's "empty descriptor" content.
EMPTY_JSON = b"{}"

#: The error codes the spec's table allows ("The `code` field MUST be one of the following").
SPEC_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)
#: "The client MAY encounter error codes targeting Docker schema1 manifests, such as
#: `TAG_INVALID`, or `MANIFEST_UNVERIFIED`."
LEGACY_ERROR_CODES = frozenset({"TAG_INVALID", "MANIFEST_UNVERIFIED"})

_CODE_RE = re.compile(r"[A-Z_]+")
_LINK_RE = re.compile(r'^\s*<(?P<url>[^>]*)>\s*;\s*rel=(?P<rel>"next"|next)\s*$')
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)


# --- data --------------------------------------------------------------------------------


def random_bytes(size: int = 64) -> bytes:
    """Random blob content; random so that no two tests share a blob by accident."""
    return os.urandom(size)


def unique_repo(stem: str = "conformance") -> str:
    """A repository name that no other test (or earlier run on a shared server) uses."""
    return f"{stem}-{secrets.token_hex(5)}"


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def digest_matches(digest: str, data: bytes) -> bool:
    """True when ``digest`` (in whatever supported algorithm it names) is that of ``data``."""
    algorithm, _, encoded = digest.partition(":")
    if algorithm not in {"sha256", "sha512"}:
        return False
    return hashlib.new(algorithm, data).hexdigest() == encoded


def encode(document: Any) -> bytes:
    """Canonical-ish compact JSON encoding used for every generated manifest."""
    return json.dumps(document, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def describe(response: httpx.Response) -> str:
    """A one-paragraph account of a request and its response, for assertion messages."""
    request = response.request
    body = response.content[:600] if request.method != "HEAD" else b""
    headers = dict(response.headers)
    return (
        f"{request.method} {request.url} -> {response.status_code}\n"
        f"  response headers: {headers}\n  response body: {body!r}"
    )


# --- URLs ----------------------------------------------------------------------------------


def with_query(url: str, **params: str | list[str]) -> str:
    """Add query parameters to a location, keeping any it already carries.

    "The `<blob-push-location>` MAY contain critical query parameters."  httpx's ``params=``
    argument would replace them, so locations are always extended through this function.
    """
    return str(httpx.URL(url).copy_merge_params(params))


def path_and_query(url: str) -> str:
    """The origin-relative form of a URL that may be absolute or relative."""
    parsed = httpx.URL(url)
    query = parsed.query.decode()
    return parsed.path + (f"?{query}" if query else "")


def next_link(response: httpx.Response) -> str | None:
    """The target of a ``Link: <...>; rel="next"`` header, or None when there is none."""
    values = response.headers.get_list("link")
    for value in values:
        for part in value.split(","):
            match = _LINK_RE.match(part)
            if match:
                return match.group("url")
    assert not values, f"Link header present but not a rel=next link: {values!r}"
    return None


def header_list(response: httpx.Response, name: str) -> list[str]:
    """All comma-separated values of a (possibly repeated) header, RFC 9110 section 5.3."""
    return [
        item.strip()
        for value in response.headers.get_list(name)
        for item in value.split(",")
        if item.strip()
    ]


def contains_uuid(text: str) -> bool:
    return _UUID_RE.search(text) is not None


# --- errors --------------------------------------------------------------------------------


def error_codes(response: httpx.Response) -> list[str]:
    """Decode an OCI error body, checking its shape, and return the codes it lists."""
    try:
        body = response.json()
    except ValueError as exc:  # pragma: no cover - the assertion message is the point
        raise AssertionError(f"error body is not JSON\n{describe(response)}") from exc
    assert isinstance(body, dict), describe(response)
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, f"no 'errors' list\n{describe(response)}"
    codes: list[str] = []
    for error in errors:
        assert isinstance(error, dict), describe(response)
        code = error.get("code")
        assert isinstance(code, str) and _CODE_RE.fullmatch(code), describe(response)
        assert code in SPEC_ERROR_CODES | LEGACY_ERROR_CODES, (
            f"error code {code!r} is not one of the spec's codes\n{describe(response)}"
        )
        if "message" in error:
            assert isinstance(error["message"], str), describe(response)
        codes.append(code)
    return codes


def assert_error(response: httpx.Response, status: int | Iterable[int], *codes: str) -> None:
    """The response has one of the statuses and an OCI error body listing one of the codes."""
    statuses = {status} if isinstance(status, int) else set(status)
    assert response.status_code in statuses, (
        f"expected status {sorted(statuses)}\n{describe(response)}"
    )
    found = error_codes(response)
    assert set(found) & set(codes), f"expected one of {codes}, got {found}\n{describe(response)}"


def assert_not_server_error(response: httpx.Response) -> None:
    """No 5xx; and a 4xx with a JSON body must use the OCI error format."""
    assert response.status_code < 500, describe(response)
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if response.status_code >= 400 and is_json and response.content:
        error_codes(response)


# --- blobs ---------------------------------------------------------------------------------


def start_upload(client: httpx.Client, repo: str, **params: str) -> httpx.Response:
    """``POST /v2/<name>/blobs/uploads/`` with ``Content-Length: 0`` and optional query."""
    url = (
        with_query(f"/v2/{repo}/blobs/uploads/", **params)
        if params
        else (f"/v2/{repo}/blobs/uploads/")
    )
    return client.post(url, content=b"")


def upload_location(client: httpx.Client, repo: str, **params: str) -> str:
    response = start_upload(client, repo, **params)
    assert response.status_code == 202, describe(response)
    return response.headers["location"]


def put_upload(
    client: httpx.Client,
    location: str,
    digest: str,
    data: bytes = b"",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """The closing ``PUT <location>?digest=<digest>``, optionally carrying a final chunk."""
    all_headers = {"Content-Type": OCTET_STREAM} if data else {}
    all_headers.update(headers or {})
    return client.put(with_query(location, digest=digest), content=data, headers=all_headers)


def patch_chunk(
    client: httpx.Client, location: str, data: bytes, start: int | None
) -> httpx.Response:
    """``PATCH`` one chunk; ``start=None`` sends it streamed, without ``Content-Range``."""
    headers = {"Content-Type": OCTET_STREAM}
    if start is not None:
        headers["Content-Range"] = f"{start}-{start + len(data) - 1}"
    return client.patch(location, content=data, headers=headers)


def push_blob(client: httpx.Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Push a blob the most widely supported way (POST then PUT); return its digest."""
    digest = digest_of(data, algorithm)
    params = {"digest-algorithm": algorithm} if algorithm != "sha256" else {}
    location = upload_location(client, repo, **params)
    response = put_upload(client, location, digest, data)
    assert response.status_code == 201, describe(response)
    return digest


def push_chunked(
    client: httpx.Client, repo: str, data: bytes, chunk_size: int, algorithm: str = "sha256"
) -> httpx.Response:
    """Push a blob in ``Content-Range`` chunks, closing with an empty PUT; return the PUT."""
    digest = digest_of(data, algorithm)
    params = {"digest-algorithm": algorithm} if algorithm != "sha256" else {}
    response = start_upload(client, repo, **params)
    assert response.status_code == 202, describe(response)
    minimum = int(response.headers.get("oci-chunk-min-length", "0") or 0)
    chunk_size = max(chunk_size, minimum)
    location = response.headers["location"]
    for start in range(0, len(data), chunk_size):
        response = patch_chunk(client, location, data[start : start + chunk_size], start)
        assert response.status_code == 202, describe(response)
        location = response.headers["location"]
    return put_upload(client, location, digest)


def blob_url(repo: str, digest: str) -> str:
    return f"/v2/{repo}/blobs/{digest}"


# --- manifests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """A manifest payload as pushed: exact bytes and the Content-Type used."""

    body: bytes
    media_type: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def digest(self) -> str:
        return digest_of(self.body)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return descriptor(self.media_type, self.body, **extra)


def make_image_manifest(
    config: dict[str, Any],
    layers: list[dict[str, Any]],
    *,
    media_type: str | None = OCI_MANIFEST,
    artifact_type: str | None = None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An OCI image manifest (or, with Docker media types, a Docker v2 schema 2 manifest)."""
    document: dict[str, Any] = {"schemaVersion": 2}
    if media_type is not None:
        document["mediaType"] = media_type
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    document["config"] = config
    document["layers"] = layers
    if subject is not None:
        document["subject"] = subject
    if annotations is not None:
        document["annotations"] = annotations
    return document


def make_index(
    manifests: list[dict[str, Any]],
    *,
    media_type: str = OCI_INDEX,
    artifact_type: str | None = None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An OCI image index (or, with the Docker media type, a Docker manifest list)."""
    document: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    document["manifests"] = manifests
    if subject is not None:
        document["subject"] = subject
    if annotations is not None:
        document["annotations"] = annotations
    return document


def platform(architecture: str, os_name: str = "linux") -> dict[str, str]:
    return {"architecture": architecture, "os": os_name}


def put_manifest(
    client: httpx.Client,
    repo: str,
    reference: str,
    body: bytes,
    content_type: str,
    tags: list[str] | None = None,
) -> httpx.Response:
    """``PUT /v2/<name>/manifests/<reference>``, with optional ``?tag=`` parameters."""
    url = f"/v2/{repo}/manifests/{reference}"
    if tags:
        url = with_query(url, tag=tags)
    return client.put(url, content=body, headers={"Content-Type": content_type})


def push_manifest(
    client: httpx.Client, repo: str, manifest: Manifest, reference: str | None = None
) -> httpx.Response:
    """Push a manifest by tag or (by default) by its digest; it must be accepted."""
    response = put_manifest(
        client, repo, reference or manifest.digest, manifest.body, manifest.media_type
    )
    assert response.status_code == 201, describe(response)
    return response


def config_blob() -> bytes:
    """A small, unique OCI image configuration."""
    return encode(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {"Labels": {"nonce": secrets.token_hex(8)}},
        }
    )


def build_image(
    client: httpx.Client,
    repo: str,
    *,
    layer_count: int = 1,
    docker: bool = False,
    artifact_type: str | None = None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """Push an image's config and layers, and return (without pushing) its manifest."""
    config_type, layer_type, manifest_type = (
        (DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST)
        if docker
        else (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST)
    )
    config = config_blob()
    push_blob(client, repo, config)
    layers = []
    for _ in range(layer_count):
        layer = random_bytes(96)
        push_blob(client, repo, layer)
        layers.append(descriptor(layer_type, layer))
    document = make_image_manifest(
        descriptor(config_type, config),
        layers,
        media_type=manifest_type,
        artifact_type=artifact_type,
        subject=subject,
        annotations=annotations,
    )
    return Manifest(encode(document), manifest_type)


def push_image(
    client: httpx.Client, repo: str, reference: str | None = None, **options: Any
) -> Manifest:
    """Push a complete small image (blobs and manifest) by tag, or by digest by default."""
    manifest = build_image(client, repo, **options)
    push_manifest(client, repo, manifest, reference)
    return manifest


def build_artifact(
    client: httpx.Client,
    repo: str,
    *,
    artifact_type: str | None,
    subject: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    config_media_type: str = OCI_EMPTY,
) -> Manifest:
    """An artifact manifest: empty (or typed) ``{}`` config and one small layer."""
    push_blob(client, repo, EMPTY_JSON)
    layer = random_bytes(32)
    push_blob(client, repo, layer)
    document = make_image_manifest(
        descriptor(config_media_type, EMPTY_JSON),
        [descriptor("application/vnd.example.payload", layer)],
        artifact_type=artifact_type,
        subject=subject,
        annotations=annotations,
    )
    return Manifest(encode(document), OCI_MANIFEST)


def push_index(
    client: httpx.Client,
    repo: str,
    children: list[Manifest],
    reference: str | None = None,
    *,
    docker: bool = False,
) -> Manifest:
    """Push an index (or Docker manifest list) over already pushed child manifests."""
    media_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    architectures = ["amd64", "arm64", "s390x", "ppc64le", "riscv64"]
    entries = [
        child.descriptor(platform=platform(architectures[i % len(architectures)]))
        for i, child in enumerate(children)
    ]
    manifest = Manifest(encode(make_index(entries, media_type=media_type)), media_type)
    push_manifest(client, repo, manifest, reference)
    return manifest


def get_manifest(
    client: httpx.Client, repo: str, reference: str, accept: Iterable[str] | None = None
) -> httpx.Response:
    """``GET`` a manifest with an ``Accept`` header naming every type these tests push."""
    types = list(accept) if accept is not None else ALL_MANIFEST_TYPES
    return client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ", ".join(types)})


def head_manifest(
    client: httpx.Client, repo: str, reference: str, accept: Iterable[str] | None = None
) -> httpx.Response:
    types = list(accept) if accept is not None else ALL_MANIFEST_TYPES
    return client.head(f"/v2/{repo}/manifests/{reference}", headers={"Accept": ", ".join(types)})


ALL_MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST]


def list_tags(client: httpx.Client, repo: str, **params: str) -> httpx.Response:
    url = f"/v2/{repo}/tags/list"
    return client.get(with_query(url, **params) if params else url)


def referrers(client: httpx.Client, repo: str, digest: str, **params: str) -> httpx.Response:
    url = f"/v2/{repo}/referrers/{digest}"
    return client.get(with_query(url, **params) if params else url)


def follow_pages(
    client: httpx.Client, first: httpx.Response, key: str, limit: int = 50
) -> list[list[str]]:
    """Follow ``rel="next"`` links from ``first``; return the ``key`` list of every page."""
    pages: list[list[str]] = []
    response = first
    for _ in range(limit):
        assert response.status_code == 200, describe(response)
        pages.append(response.json()[key] or [])
        link = next_link(response)
        if link is None:
            return pages
        response = client.get(link)
    raise AssertionError(f"pagination did not end after {limit} pages: {pages}")


#: The four manifest kinds issue 2 names, by short id.
MANIFEST_KINDS = ["oci-manifest", "oci-index", "docker-manifest", "docker-manifest-list"]


def push_kind(client: httpx.Client, repo: str, kind: str, reference: str | None = None) -> Manifest:
    """Push one manifest of the given kind (an index's children are pushed first)."""
    if kind == "oci-manifest":
        return push_image(client, repo, reference)
    if kind == "docker-manifest":
        return push_image(client, repo, reference, docker=True)
    docker = kind == "docker-manifest-list"
    children = [push_image(client, repo, docker=docker) for _ in range(2)]
    return push_index(client, repo, children, reference, docker=docker)


def check_each(cases: dict[str, Any], check: Any) -> None:
    """Run ``check(case)`` for every case; fail once, naming every case that failed and why.

    Used for corpora of inputs that exercise one behaviour (invalid names, digests,
    malformed requests): one test per behaviour, with a report covering the whole corpus.
    """
    failures: list[str] = []
    for name, case in cases.items():
        try:
            check(case)
        except AssertionError as exc:
            failures.append(f"[{name}] {exc}")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n\n" + "\n\n".join(
        failures
    )
