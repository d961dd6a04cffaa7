"""Robot accounts: /projects/{project}/robots (named `project+name`, granted only in their
project) and /robots (system robots, administrators only, granted any project or "*")."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Permission, Robot, RobotCreate, RobotUpdate, RobotWithSecret
from cargobay.api.needs import Admin, RobotManager
from cargobay.api.pagination import DEFAULT_LIMIT, After, Filter, Limit, Page, page
from cargobay.api.problems import documented
from cargobay.api.services import accounts
from cargobay.auth.accounts import UNSET, NewRobot
from cargobay.auth.principal import Principal
from cargobay.metadata.access_store import RobotRecord

_ERRORS = documented(401, 403, 404, 422)
project_router = APIRouter(prefix="/projects/{project}/robots", tags=["robots"], responses=_ERRORS)
system_router = APIRouter(prefix="/robots", tags=["robots"], responses=_ERRORS)


def robot_out(robot: RobotRecord) -> Robot:
    return Robot(
        name=robot.name,
        project=robot.project,
        description=robot.description,
        permissions=[Permission.model_validate(p) for p in robot.permissions],
        expires_at=robot.expires_at,
        revoked=robot.revoked,
        created_by=robot.created_by,
        created_at=robot.created_at,
        last_used_at=robot.last_used_at,
    )


def with_secret(created: NewRobot) -> RobotWithSecret:
    return RobotWithSecret(**robot_out(created.robot).model_dump(), secret=created.secret)


def _grants(permissions: list[Permission] | None) -> list[dict[str, object]] | None:
    return [p.model_dump(mode="json") for p in permissions] if permissions is not None else None


# The operations, shared by both routers (project None: system robots).


async def _list(
    request: Request,
    response: Response,
    project: str | None,
    limit: int,
    after: str | None,
    q: str | None,
) -> Page[Robot]:
    rows = await accounts(request).list_robots(project, limit + 1, after, q)
    return page(request, response, rows, limit, lambda r: r.name, robot_out)


async def _create(
    request: Request, project: str | None, body: RobotCreate, caller: Principal
) -> RobotWithSecret:
    created = await accounts(request).create_robot(
        project,
        body.name,
        _grants(body.permissions),
        description=body.description,
        expires_at=body.expires_at,
        actor=caller,
    )
    return with_secret(created)


async def _update(
    request: Request, project: str | None, robot: str, body: RobotUpdate, caller: Principal
) -> Robot:
    sent = body.model_fields_set
    updated = await accounts(request).update_robot(
        project,
        robot,
        permissions=_grants(body.permissions),
        description=body.description if "description" in sent else UNSET,
        expires_at=body.expires_at if "expires_at" in sent else UNSET,
        actor=caller,
    )
    return robot_out(updated)


# -- project robots ------------------------------------------------------------------------


@project_router.get("", summary="List a project's robots")
async def list_project_robots(
    request: Request,
    response: Response,
    project: str,
    caller: RobotManager,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    q: Filter = None,
) -> Page[Robot]:
    return await _list(request, response, project, limit, after, q)


@project_router.post(
    "", status_code=201, summary="Create a project robot", responses=documented(409)
)
async def create_project_robot(
    request: Request, project: str, caller: RobotManager, body: RobotCreate
) -> RobotWithSecret:
    return await _create(request, project, body, caller)


@project_router.get("/{robot}", summary="Show a project robot")
async def get_project_robot(
    request: Request, project: str, robot: str, caller: RobotManager
) -> Robot:
    return robot_out(await accounts(request).robot(project, robot))


@project_router.patch("/{robot}", summary="Change a project robot")
async def update_project_robot(
    request: Request, project: str, robot: str, caller: RobotManager, body: RobotUpdate
) -> Robot:
    return await _update(request, project, robot, body, caller)


@project_router.post("/{robot}/revoke", summary="Revoke a project robot")
async def revoke_project_robot(
    request: Request, project: str, robot: str, caller: RobotManager
) -> Robot:
    return robot_out(await accounts(request).revoke_robot(project, robot, actor=caller))


@project_router.post("/{robot}/secret", summary="Give a project robot a new secret")
async def regenerate_project_robot(
    request: Request, project: str, robot: str, caller: RobotManager
) -> RobotWithSecret:
    return with_secret(await accounts(request).regenerate_robot(project, robot, actor=caller))


@project_router.delete("/{robot}", status_code=204, summary="Delete a project robot")
async def delete_project_robot(
    request: Request, project: str, robot: str, caller: RobotManager
) -> Response:
    await accounts(request).delete_robot(project, robot, actor=caller)
    return Response(status_code=204)


# -- system robots -------------------------------------------------------------------------


@system_router.get("", summary="List system robots")
async def list_system_robots(
    request: Request,
    response: Response,
    caller: Admin,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    q: Filter = None,
) -> Page[Robot]:
    return await _list(request, response, None, limit, after, q)


@system_router.post("", status_code=201, summary="Create a system robot", responses=documented(409))
async def create_system_robot(
    request: Request, caller: Admin, body: RobotCreate
) -> RobotWithSecret:
    return await _create(request, None, body, caller)


@system_router.get("/{robot}", summary="Show a system robot")
async def get_system_robot(request: Request, robot: str, caller: Admin) -> Robot:
    return robot_out(await accounts(request).robot(None, robot))


@system_router.patch("/{robot}", summary="Change a system robot")
async def update_system_robot(
    request: Request, robot: str, caller: Admin, body: RobotUpdate
) -> Robot:
    return await _update(request, None, robot, body, caller)


@system_router.post("/{robot}/revoke", summary="Revoke a system robot")
async def revoke_system_robot(request: Request, robot: str, caller: Admin) -> Robot:
    return robot_out(await accounts(request).revoke_robot(None, robot, actor=caller))


@system_router.post("/{robot}/secret", summary="Give a system robot a new secret")
async def regenerate_system_robot(request: Request, robot: str, caller: Admin) -> RobotWithSecret:
    return with_secret(await accounts(request).regenerate_robot(None, robot, actor=caller))


@system_router.delete("/{robot}", status_code=204, summary="Delete a system robot")
async def delete_system_robot(request: Request, robot: str, caller: Admin) -> Response:
    await accounts(request).delete_robot(None, robot, actor=caller)
    return Response(status_code=204)
