"""/projects/{project}/repositories/{repository}/artifacts/{digest}/labels: key=value labels.

Included before `api.repositories`, whose `/{repository:path}` would take these paths.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Label, LabelSet
from cargobay.api.needs import Labeller, Lister
from cargobay.api.problems import ProblemError, documented
from cargobay.api.repositories import artifact_in_project
from cargobay.api.services import registry
from cargobay.lifecycle.labels import ArtifactNotFound, LabelInvalid, LabelService

router = APIRouter(
    prefix="/projects/{project}/repositories/{repository:path}/artifacts/{digest}/labels",
    tags=["labels"],
    responses=documented(400, 401, 403, 404, 422),
)


def _labels(request: Request) -> LabelService:
    return LabelService(registry(request))


def _problem(exc: Exception) -> ProblemError:
    return ProblemError(404 if isinstance(exc, ArtifactNotFound) else 422, str(exc))


@router.get("", summary="List an artifact's labels")
async def list_labels(
    request: Request, project: str, repository: str, digest: str, caller: Lister
) -> list[Label]:
    name, digest = artifact_in_project(project, repository, digest)
    try:
        found = await _labels(request).labels(name, digest)
    except ArtifactNotFound as exc:
        raise _problem(exc) from None
    return [
        Label(key=x.key, value=x.value, created_by=x.created_by, created_at=x.created_at)
        for x in found
    ]


@router.put("/{key:path}", status_code=204, summary="Set a label (replacing its value)")
async def set_label(
    request: Request,
    project: str,
    repository: str,
    digest: str,
    key: str,
    body: LabelSet,
    caller: Labeller,
) -> Response:
    name, digest = artifact_in_project(project, repository, digest)
    try:
        await _labels(request).set(name, digest, key, body.value, caller.subject or None)
    except (ArtifactNotFound, LabelInvalid) as exc:
        raise _problem(exc) from None
    return Response(status_code=204)


@router.delete("/{key:path}", status_code=204, summary="Remove a label")
async def remove_label(
    request: Request, project: str, repository: str, digest: str, key: str, caller: Labeller
) -> Response:
    name, digest = artifact_in_project(project, repository, digest)
    try:
        removed = await _labels(request).remove(name, digest, key, caller.subject or None)
    except (ArtifactNotFound, LabelInvalid) as exc:
        raise _problem(exc) from None
    if not removed:
        raise ProblemError(404, f"{name}@{digest} has no label {key}")
    return Response(status_code=204)
