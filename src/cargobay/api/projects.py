"""/projects: namespaces, their visibility and description."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Project, ProjectCreate, ProjectUpdate
from cargobay.api.needs import Authenticated, ProjectCreator, SettingsManager, Visible, access
from cargobay.api.pagination import DEFAULT_LIMIT, After, Filter, Limit, Page, page
from cargobay.api.problems import documented
from cargobay.api.services import accounts
from cargobay.auth.accounts import UNSET
from cargobay.auth.principal import ANY_PROJECT, Kind, Principal
from cargobay.auth.service import AccessService
from cargobay.metadata.access_store import ProjectDetails

router = APIRouter(prefix="/projects", tags=["projects"], responses=documented(401, 403, 422))


def project_out(project: ProjectDetails) -> Project:
    return Project(
        name=project.name,
        public=project.public,
        description=project.description,
        created_by=project.created_by,
        created_at=project.created_at,
    )


async def visible_projects(service: AccessService, caller: Principal) -> set[str] | None:
    """The projects the caller may do anything in; None: every project."""
    if caller.kind is Kind.USER and caller.is_admin and caller.grants is None:
        return None
    if caller.kind is Kind.ROBOT and any(g.project == ANY_PROJECT for g in caller.grants or ()):
        return None
    candidates = set(await service.db.read(service.store.public_projects))
    candidates |= set(caller.roles) | {g.project for g in caller.grants or ()}
    candidates.discard(ANY_PROJECT)
    return {name for name in candidates if caller.allowed(await service.project(name))}


@router.get("", summary="List the projects the caller can see")
async def list_projects(
    request: Request,
    response: Response,
    caller: Authenticated,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    q: Filter = None,
) -> Page[Project]:
    visible = await visible_projects(access(request), caller)
    rows = await accounts(request).list_projects(limit + 1, after, q, visible)
    return page(request, response, rows, limit, lambda p: p.name, project_out)


@router.post("", status_code=201, summary="Create a project", responses=documented(409))
async def create_project(request: Request, caller: ProjectCreator, body: ProjectCreate) -> Project:
    project = await accounts(request).create_project(
        body.name, public=body.public, description=body.description, creator=caller
    )
    return project_out(project)


@router.get("/{project}", summary="Show a project", responses=documented(404))
async def get_project(request: Request, project: str, caller: Visible) -> Project:
    return project_out(await accounts(request).project(project))


@router.patch("/{project}", summary="Change visibility or description", responses=documented(404))
async def update_project(
    request: Request, project: str, caller: SettingsManager, body: ProjectUpdate
) -> Project:
    updated = await accounts(request).update_project(
        project,
        public=body.public,
        description=body.description if "description" in body.model_fields_set else UNSET,
        actor=caller,
    )
    return project_out(updated)


@router.delete(
    "/{project}",
    status_code=204,
    summary="Delete a project with all its repositories",
    responses=documented(404),
)
async def delete_project(request: Request, project: str, caller: SettingsManager) -> Response:
    await accounts(request).delete_project(project, actor=caller)
    return Response(status_code=204)
