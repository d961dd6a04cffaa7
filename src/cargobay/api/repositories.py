"""/projects/{project}/repositories and their artifacts (manifests): list, show, delete.

`{repository}` is the repository's full name as listed (`team/app`; in project `library`
also `busybox`). Deletes go through the registry service, so the cache is emptied and the
same events are emitted as for a DELETE on /v2.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Artifact, Repository
from cargobay.api.needs import ArtifactDeleter, Lister, Puller
from cargobay.api.pagination import DEFAULT_LIMIT, After, Filter, Limit, Page, numeric_cursor, page
from cargobay.api.problems import ProblemError, documented
from cargobay.api.services import registry
from cargobay.auth.principal import DEFAULT_PROJECT, project_of
from cargobay.metadata.history import Operation
from cargobay.metadata.store import Artifact as ArtifactRecord
from cargobay.metadata.store import RepositorySummary
from cargobay.oci import digest as digests

router = APIRouter(
    prefix="/projects/{project}/repositories",
    tags=["repositories"],
    responses=documented(400, 401, 403, 404, 422),
)


def repository_out(summary: RepositorySummary) -> Repository:
    return Repository(
        name=summary.name,
        tag_count=summary.tag_count,
        artifact_count=summary.artifact_count,
        created_at=summary.created_at,
        last_pushed_at=summary.last_pushed_at,
    )


def artifact_out(artifact: ArtifactRecord) -> Artifact:
    return Artifact(
        digest=artifact.digest,
        media_type=artifact.media_type,
        artifact_type=artifact.artifact_type,
        size=artifact.size,
        tags=list(artifact.tags),
        pushed_at=artifact.pushed_at,
        labels=artifact.labels,
        pull_count=artifact.pull_count,
        last_pulled_at=artifact.last_pulled_at,
    )


def _in_project(project: str, repository: str) -> str:
    if project_of(repository) != project:
        raise ProblemError(404, f"repository {repository} is not in project {project}")
    return repository


def _digest(digest: str) -> str:
    digests.parse(digest)  # an OCIError: 400 DIGEST_INVALID
    return digest


def in_project(project: str, repository: str) -> str:
    """The repository of a path, checked to be in the project (404)."""
    return _in_project(project, repository)


def artifact_in_project(project: str, repository: str, digest: str) -> tuple[str, str]:
    """The repository and digest of an artifact path, checked (404, 400)."""
    return _in_project(project, repository), _digest(digest)


@router.get("", summary="List a project's repositories")
async def list_repositories(
    request: Request,
    response: Response,
    project: str,
    caller: Lister,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    q: Filter = None,
) -> Page[Repository]:
    service = registry(request)
    rows = await service.db.read(
        service.metadata.project_repositories,
        project,
        project == DEFAULT_PROJECT,
        limit + 1,
        after,
        q,
    )
    return page(request, response, rows, limit, lambda r: r.name, repository_out)


# Artifact routes first: `{repository:path}` would swallow `.../artifacts` otherwise.


@router.get("/{repository:path}/artifacts", summary="List a repository's artifacts")
async def list_artifacts(
    request: Request,
    response: Response,
    project: str,
    repository: str,
    caller: Lister,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    q: Filter = None,
) -> Page[Artifact]:
    service = registry(request)
    name = _in_project(project, repository)
    rows = await service.db.read(
        service.metadata.artifacts, name, limit + 1, numeric_cursor(after), q
    )
    if rows is None:
        raise ProblemError(404, f"repository {name} does not exist")
    return page(request, response, rows, limit, lambda a: str(a.id), artifact_out)


@router.get("/{repository:path}/artifacts/{digest}", summary="Show an artifact")
async def get_artifact(
    request: Request, project: str, repository: str, digest: str, caller: Puller
) -> Artifact:
    service = registry(request)
    name = _in_project(project, repository)
    found = await service.db.read(service.metadata.artifact, name, _digest(digest))
    if found is None:
        raise ProblemError(404, f"{name}@{digest} does not exist")
    return artifact_out(found)


@router.delete(
    "/{repository:path}/artifacts/{digest}",
    status_code=204,
    summary="Delete an artifact with its tags",
)
async def delete_artifact(
    request: Request, project: str, repository: str, digest: str, caller: ArtifactDeleter
) -> Response:
    name = _in_project(project, repository)
    await registry(request).delete_manifest(name, _digest(digest), caller.subject, Operation.API)
    return Response(status_code=204)


@router.get("/{repository:path}", summary="Show a repository")
async def get_repository(
    request: Request, project: str, repository: str, caller: Lister
) -> Repository:
    service = registry(request)
    name = _in_project(project, repository)
    found = await service.db.read(service.metadata.repository_summary, name)
    if found is None:
        raise ProblemError(404, f"repository {name} does not exist")
    return repository_out(found)


@router.delete(
    "/{repository:path}", status_code=204, summary="Delete a repository with all its artifacts"
)
async def delete_repository(
    request: Request, project: str, repository: str, caller: ArtifactDeleter
) -> Response:
    name = _in_project(project, repository)
    await registry(request).delete_repository(name, actor=caller.subject)
    return Response(status_code=204)
