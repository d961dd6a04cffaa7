"""The API root, tag lists, the catalog and the referrers API."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from cargobay.oci import mediatypes as mt
from cargobay.registry.access import access, principal
from cargobay.registry.handlers.common import (
    API_VERSION,
    endpoint,
    int_param,
    repository,
    service,
)

# The most entries one page returns, whatever `n` asks; a Link header offers the rest.
MAX_PAGE = 10_000
DEFAULT_CATALOG_PAGE = 1_000


def _json(
    document: object, headers: dict[str, str] | None = None, media_type: str = "application/json"
) -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(body, headers={**API_VERSION, **(headers or {})}, media_type=media_type)


def _next_link(path: str, limit: int, last: str) -> dict[str, str]:
    return {"Link": f'<{path}?{urlencode({"n": limit, "last": last})}>; rel="next"'}


@endpoint
async def api_root(request: Request) -> Response:
    return _json({})


@endpoint
async def list_tags(request: Request) -> Response:
    name = repository(request)
    n = int_param(request, "n")
    last = request.query_params.get("last")
    registry = service(request)
    if n == 0:
        await registry.list_tags(name, 0, last)  # still 404 for an unknown repository
        return _json({"name": name, "tags": []})
    limit = min(n, MAX_PAGE) if n is not None else None
    # One more than asked tells whether a next page exists without a second query.
    tags = await registry.list_tags(name, limit + 1 if limit else None, last)
    headers = {}
    if limit is not None and len(tags) > limit:
        tags = tags[:limit]
        headers = _next_link(f"/v2/{name}/tags/list", limit, tags[-1])
    return _json({"name": name, "tags": tags}, headers)


@endpoint
async def catalog(request: Request) -> Response:
    n = int_param(request, "n")
    last = request.query_params.get("last")
    if n == 0:
        return _json({"repositories": []})
    limit = min(n if n is not None else DEFAULT_CATALOG_PAGE, MAX_PAGE)
    projects = await access(request).listable_projects(principal(request))
    names = await service(request).catalog(limit + 1, last, projects)
    headers = {}
    if len(names) > limit:
        names = names[:limit]
        headers = _next_link("/v2/_catalog", limit, names[-1])
    return _json({"repositories": names}, headers)


@endpoint
async def referrers(request: Request) -> Response:
    name = repository(request)
    artifact_type = request.query_params.get("artifactType")
    found = await service(request).referrers(name, request.path_params["digest"], artifact_type)
    manifests = []
    for referrer in found:
        descriptor: dict[str, object] = {
            "mediaType": referrer.media_type,
            "digest": referrer.digest,
            "size": referrer.size,
        }
        if referrer.artifact_type:
            descriptor["artifactType"] = referrer.artifact_type
        if referrer.annotations:
            descriptor["annotations"] = referrer.annotations
        manifests.append(descriptor)
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type is not None else {}
    return _json(index, headers, media_type=mt.OCI_INDEX)
