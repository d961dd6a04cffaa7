"""Blob uploads: POST (start, monolithic, mount), PATCH, PUT, GET status, DELETE."""

from __future__ import annotations

import functools
import re

from starlette.requests import Request
from starlette.responses import Response

from cargobay.registry.access import may_pull
from cargobay.registry.errors import RegistryError, range_header
from cargobay.registry.handlers.common import (
    API_VERSION,
    body_chunks,
    content_length,
    endpoint,
    has_body,
    repository,
    service,
)
from cargobay.storage import BlobInfo, UploadOffsetMismatch

_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")


def _upload_location(name: str, upload_id: str) -> str:
    return f"/v2/{name}/blobs/uploads/{upload_id}"


def _session_response(name: str, upload_id: str, size: int, status: int) -> Response:
    return Response(
        status_code=status,
        headers={
            **API_VERSION,
            "Location": _upload_location(name, upload_id),
            "Range": range_header(size),
            "Docker-Upload-UUID": upload_id,
            "OCI-Chunk-Min-Length": "0",
        },
    )


def _created(name: str, info: BlobInfo) -> Response:
    return Response(
        status_code=201,
        headers={
            **API_VERSION,
            "Location": f"/v2/{name}/blobs/{info.digest}",
            "Docker-Content-Digest": info.digest,
        },
    )


def _chunk_offset(request: Request) -> int | None:
    """Where a chunk claims to start, from Content-Range; None for a streamed PATCH."""
    header = request.headers.get("content-range")
    if header is None:
        return None
    match = _CONTENT_RANGE.match(header.strip())
    if not match or int(match[2]) < int(match[1]):
        raise RegistryError(
            "BLOB_UPLOAD_INVALID", "invalid Content-Range", {"range": header}, status=416
        )
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) != int(match[2]) - int(match[1]) + 1:
        raise RegistryError(
            "BLOB_UPLOAD_INVALID",
            "Content-Range does not match Content-Length",
            {"range": header, "length": length},
            status=416,
        )
    return int(match[1])


@endpoint
async def start_upload(request: Request) -> Response:
    name = repository(request)
    registry = service(request)
    params = request.query_params
    mount = params.get("mount")
    if mount is not None:
        source = params.get("from")
        info = await registry.mount(name, mount, source, functools.partial(may_pull, request))
        if info is not None:
            return _created(name, info)
    digest = params.get("digest")
    if digest is not None:
        info = await registry.monolithic_upload(
            name, digest, body_chunks(request), content_length(request)
        )
        return _created(name, info)
    upload_id = await registry.start_upload(name)
    return _session_response(name, upload_id, 0, 202)


@endpoint
async def patch_upload(request: Request) -> Response:
    name = repository(request)
    upload_id = request.path_params["upload_id"]
    offset = _chunk_offset(request)
    try:
        size = await service(request).append(name, upload_id, body_chunks(request), offset)
    except UploadOffsetMismatch as exc:
        # Tell the client where to resume, as a GET of the session would.
        raise RegistryError(
            "BLOB_UPLOAD_INVALID",
            "chunk does not start where the upload ends",
            {"size": exc.size},
            status=416,
            headers={
                "Location": _upload_location(name, upload_id),
                "Range": range_header(exc.size),
                "Docker-Upload-UUID": upload_id,
            },
        ) from None
    return _session_response(name, upload_id, size, 202)


@endpoint
async def put_upload(request: Request) -> Response:
    name = repository(request)
    upload_id = request.path_params["upload_id"]
    digest = request.query_params.get("digest")
    if digest is None:
        raise RegistryError("DIGEST_INVALID", "the digest query parameter is required")
    chunks = body_chunks(request) if has_body(request) else None
    offset = _chunk_offset(request) if chunks is not None else None
    length = content_length(request) if chunks is not None else None
    info = await service(request).finish_upload(name, upload_id, digest, chunks, offset, length)
    return _created(name, info)


@endpoint
async def get_upload(request: Request) -> Response:
    name = repository(request)
    upload_id = request.path_params["upload_id"]
    size = await service(request).upload_size(name, upload_id)
    return _session_response(name, upload_id, size, 204)


@endpoint
async def delete_upload(request: Request) -> Response:
    name = repository(request)
    await service(request).cancel_upload(name, request.path_params["upload_id"])
    return Response(status_code=204, headers=API_VERSION)
