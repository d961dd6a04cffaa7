"""GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargobay.metadata.store import ManifestRecord
from cargobay.oci import mediatypes as mt
from cargobay.registry.access import principal
from cargobay.registry.errors import RegistryError
from cargobay.registry.handlers.common import API_VERSION, endpoint, repository, service
from cargobay.registry.service import is_digest

_WILDCARDS = frozenset({"*/*", "application/*", "application/json"})


def acceptable(accept_headers: list[str], media_type: str) -> bool:
    """Whether the client's Accept allows the stored type (no Accept at all allows anything)."""
    offered = {mt.base(part) for header in accept_headers for part in header.split(",")}
    offered.discard("")
    return not offered or media_type in offered or bool(offered & _WILDCARDS)


def _manifest_headers(record: ManifestRecord) -> dict[str, str]:
    return {
        **API_VERSION,
        "Content-Type": record.media_type,
        "Docker-Content-Digest": record.digest,
        "ETag": f'"{record.digest}"',
    }


@endpoint
async def get_manifest(request: Request) -> Response:
    name = repository(request)
    reference = request.path_params["reference"]
    registry = service(request)
    record = await registry.get_manifest(name, reference)
    accept = request.headers.getlist("accept")
    if not is_digest(reference) and not acceptable(accept, record.media_type):
        # A by-tag pull that cannot use what the tag holds: say so rather than send it.
        raise RegistryError(
            "MANIFEST_UNKNOWN",
            f"the manifest is {record.media_type}, which Accept does not allow",
            {"mediaType": record.media_type, "accept": accept},
            status=404,
        )
    headers = _manifest_headers(record)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(record.payload))
        return Response(status_code=200, headers=headers)
    registry.manifest_pulled(name, reference, record)
    return Response(record.payload, status_code=200, headers=headers)


async def _read_limited(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    too_large = RegistryError(
        "SIZE_INVALID", f"manifest is larger than {limit} bytes", {"limit": limit}, status=413
    )
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


@endpoint
async def put_manifest(request: Request) -> Response:
    name = repository(request)
    reference = request.path_params["reference"]
    registry = service(request)
    payload = await _read_limited(request, registry.max_manifest_bytes)
    pushed = await registry.put_manifest(
        name,
        reference,
        payload,
        request.headers.get("content-type"),
        request.query_params.getlist("tag"),
        actor=principal(request).subject or None,
    )
    headers = {
        **API_VERSION,
        "Location": f"/v2/{name}/manifests/{pushed.digest}",
        "Docker-Content-Digest": pushed.digest,
    }
    if pushed.manifest.subject is not None:
        headers["OCI-Subject"] = pushed.manifest.subject.digest
    response = Response(status_code=201, headers=headers)
    if is_digest(reference) and pushed.tags:
        response.headers["OCI-Tag"] = ", ".join(pushed.tags)
    return response


@endpoint
async def delete_manifest(request: Request) -> Response:
    reference = request.path_params["reference"]
    actor = principal(request).subject or None
    digest = await service(request).delete_manifest(repository(request), reference, actor)
    return Response(status_code=202, headers={**API_VERSION, "Docker-Content-Digest": digest})
