"""/projects/{project}/members: users and groups with a role in a project."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Member, MemberAdd, MemberKind, MemberUpdate
from cargobay.api.needs import Lister, MemberManager
from cargobay.api.pagination import DEFAULT_LIMIT, After, Limit, Page, numeric_cursor, page
from cargobay.api.problems import documented
from cargobay.api.services import accounts
from cargobay.auth.policy import Role
from cargobay.metadata.access_store import MemberRecord

router = APIRouter(
    prefix="/projects/{project}/members",
    tags=["members"],
    responses=documented(401, 403, 404, 422),
)


def member_out(member: MemberRecord) -> Member:
    return Member(
        kind="user" if member.kind == "user" else "group",
        name=member.name,
        role=Role(member.role),
        created_at=member.created_at,
    )


@router.get("", summary="List a project's members")
async def list_members(
    request: Request,
    response: Response,
    project: str,
    caller: Lister,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Page[Member]:
    rows = await accounts(request).list_members(project, limit + 1, numeric_cursor(after))
    return page(request, response, rows, limit, lambda m: str(m.id), member_out)


@router.post("", status_code=201, summary="Add a member", responses=documented(409))
async def add_member(
    request: Request, project: str, caller: MemberManager, body: MemberAdd
) -> Member:
    member = await accounts(request).add_member(
        project, body.kind, body.name, body.role, actor=caller
    )
    return member_out(member)


@router.get("/{kind}/{name}", summary="Show a member")
async def get_member(
    request: Request, project: str, kind: MemberKind, name: str, caller: Lister
) -> Member:
    return member_out(await accounts(request).member(project, kind, name))


@router.patch("/{kind}/{name}", summary="Change a member's role")
async def set_role(
    request: Request,
    project: str,
    kind: MemberKind,
    name: str,
    caller: MemberManager,
    body: MemberUpdate,
) -> Member:
    member = await accounts(request).set_role(project, kind, name, body.role, actor=caller)
    return member_out(member)


@router.delete("/{kind}/{name}", status_code=204, summary="Remove a member")
async def remove_member(
    request: Request, project: str, kind: MemberKind, name: str, caller: MemberManager
) -> Response:
    await accounts(request).remove_member(project, kind, name, actor=caller)
    return Response(status_code=204)
