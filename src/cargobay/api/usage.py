"""Quotas and usage: /projects/{project}/quota, .../usage, and /system/usage/recount."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from cargobay.api.models import ProjectUsage, QuotaSet, Recount, RepositoryUsage
from cargobay.api.needs import Admin, Lister
from cargobay.api.problems import ProblemError, documented
from cargobay.api.repositories import in_project
from cargobay.api.services import registry
from cargobay.lifecycle.quota import QuotaService
from cargobay.metadata import usage

router = APIRouter(tags=["quotas"], responses=documented(401, 403, 404, 422))


def _quotas(request: Request) -> QuotaService:
    return QuotaService(registry(request))


def _usage_out(found: usage.ProjectUsage) -> ProjectUsage:
    return ProjectUsage(
        project=found.project,
        quota_bytes=found.quota_bytes,
        used_bytes=found.used_bytes,
        blob_count=found.blob_count,
        blob_bytes=found.blob_bytes,
        manifest_count=found.manifest_count,
        manifest_bytes=found.manifest_bytes,
    )


async def _project_usage(request: Request, project: str) -> ProjectUsage:
    found = await _quotas(request).project_usage(project)
    if found is None:
        raise ProblemError(404, f"project {project} does not exist")
    return _usage_out(found)


@router.put(
    "/projects/{project}/quota",
    summary="Set a project's storage quota (null: none)",
    description="For system administrators. A lower quota than the usage refuses new "
    "content until enough is deleted and garbage collected; nothing is removed.",
)
async def set_quota(request: Request, project: str, body: QuotaSet, caller: Admin) -> ProjectUsage:
    if not await _quotas(request).set_quota(project, body.bytes, caller.subject):
        raise ProblemError(404, f"project {project} does not exist")
    return await _project_usage(request, project)


@router.get("/projects/{project}/usage", summary="A project's storage usage and quota")
async def project_usage(request: Request, project: str, caller: Lister) -> ProjectUsage:
    return await _project_usage(request, project)


@router.get(
    "/projects/{project}/repositories/{repository:path}/usage",
    summary="A repository's storage usage",
    description="Blobs linked into the repository, each once, and its manifests. Blobs "
    "shared with other repositories count in each of them here, once in the project.",
)
async def repository_usage(
    request: Request, project: str, repository: str, caller: Lister
) -> RepositoryUsage:
    name = in_project(project, repository)
    found = await _quotas(request).repository_usage(name)
    if found is None:
        raise ProblemError(404, f"repository {name} does not exist")
    return RepositoryUsage(
        repository=found.repository,
        used_bytes=found.used_bytes,
        blob_count=found.blob_count,
        blob_bytes=found.blob_bytes,
        manifest_count=found.manifest_count,
        manifest_bytes=found.manifest_bytes,
    )


@router.post(
    "/system/usage/recount",
    summary="Count every project's usage again from its content",
    description="Repairs counters that drifted; returns the projects whose count changed.",
)
async def recount(request: Request, caller: Admin, project: str | None = None) -> list[Recount]:
    changes = await _quotas(request).recount(project)
    return [Recount(project=c.project, before=c.before, after=c.after) for c in changes]
