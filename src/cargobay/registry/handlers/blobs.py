"""GET/HEAD/DELETE /v2/<name>/blobs/<digest>."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from cargobay.registry.errors import RegistryError
from cargobay.registry.handlers.common import API_VERSION, endpoint, repository, service
from cargobay.registry.responses import BlobResponse, parse_range


@endpoint
async def get_blob(request: Request) -> Response:
    name = repository(request)
    digest = request.path_params["digest"]
    registry = service(request)
    size = await registry.blob_size(name, digest)
    path = registry.blob_path(digest)
    if path is None or not path.is_file():
        raise RegistryError(
            "BLOB_UNKNOWN", "blob content is missing from storage", {"digest": digest}
        )
    head = request.method == "HEAD"
    header = request.headers.get("range")
    byte_range = parse_range(header, size) if header and not head else None
    if not head:
        registry.blob_pulled(name, digest, size)
    headers = {**API_VERSION, "Docker-Content-Digest": digest, "ETag": f'"{digest}"'}
    return BlobResponse(path, size, headers, head, byte_range)  # type: ignore[return-value]


@endpoint
async def delete_blob(request: Request) -> Response:
    digest = request.path_params["digest"]
    await service(request).delete_blob(repository(request), digest)
    return Response(status_code=202, headers={**API_VERSION, "Docker-Content-Digest": digest})
