"""/projects/{project}/immutability-rules: the tags of a project that may never move or go.

Reading the rules needs `list`; changing them `manage_immutability` (a project admin).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Body, Description
from cargobay.api.needs import Lister, in_project
from cargobay.api.pagination import DEFAULT_LIMIT, After, Limit, Page, numeric_cursor, page
from cargobay.api.problems import ProblemError, documented
from cargobay.auth.policy import Action
from cargobay.auth.principal import Principal
from cargobay.lifecycle.immutability import ImmutabilityService
from cargobay.metadata.immutability import Kind, PatternInvalid
from cargobay.metadata.immutability import Rule as RuleRecord

ImmutabilityManager = Annotated[Principal, in_project(Action.MANAGE_IMMUTABILITY)]
RuleId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
Pattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="glob: a tag glob (`v*`); regex: a Python regular expression the whole "
        "tag matches; semver: a range (`>=1.0.0`, `^2`)",
        examples=["v*"],
    ),
]
RepositoryGlob = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="The repositories it covers: a glob of the name inside the project "
        "(`app`, `tools/*`) or of the full name; none: every repository of the project",
    ),
]

router = APIRouter(
    prefix="/projects/{project}/immutability-rules",
    tags=["immutability"],
    responses=documented(401, 403, 404, 422),
)


class ImmutabilityRule(BaseModel):
    id: int
    kind: Kind
    pattern: str
    repositories: str | None
    description: str | None
    created_by: str | None
    created_at: datetime


class ImmutabilityRuleCreate(Body):
    kind: Kind
    pattern: Pattern
    repositories: RepositoryGlob | None = None
    description: Description | None = None


class ImmutabilityRuleUpdate(Body):
    kind: Kind | None = None
    pattern: Pattern | None = None
    repositories: RepositoryGlob | None = None
    description: Description | None = None


def immutability(request: Request) -> ImmutabilityService:
    return request.app.state.immutability  # type: ignore[no-any-return]


def _out(rule: RuleRecord) -> ImmutabilityRule:
    return ImmutabilityRule(
        id=rule.id,
        kind=rule.kind,
        pattern=rule.pattern,
        repositories=rule.repositories,
        description=rule.description,
        created_by=rule.created_by,
        created_at=rule.created_at,
    )


def _invalid(exc: PatternInvalid) -> ProblemError:
    errors = [{"loc": ["body", "pattern"], "msg": str(exc), "type": "value_error"}]
    return ProblemError(422, f"pattern: {exc}", errors=errors)


def _missing(project: str, rule_id: int) -> ProblemError:
    return ProblemError(404, f"project {project} has no immutability rule {rule_id}")


@router.get("", summary="List a project's immutability rules")
async def list_rules(
    request: Request,
    response: Response,
    project: str,
    caller: Lister,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Page[ImmutabilityRule]:
    rows = await immutability(request).rules(project, limit + 1, numeric_cursor(after))
    return page(request, response, rows, limit, lambda r: str(r.id), _out)


@router.post("", status_code=201, summary="Add an immutability rule")
async def create_rule(
    request: Request, project: str, caller: ImmutabilityManager, body: ImmutabilityRuleCreate
) -> ImmutabilityRule:
    try:
        rule = await immutability(request).create(
            project,
            body.kind,
            body.pattern,
            body.repositories,
            body.description,
            caller.subject or None,
        )
    except PatternInvalid as exc:
        raise _invalid(exc) from None
    if rule is None:
        raise ProblemError(404, f"project {project} does not exist")
    return _out(rule)


@router.get("/{rule_id}", summary="Show an immutability rule")
async def get_rule(
    request: Request, project: str, rule_id: RuleId, caller: Lister
) -> ImmutabilityRule:
    rule = await immutability(request).rule(project, rule_id)
    if rule is None:
        raise _missing(project, rule_id)
    return _out(rule)


@router.patch("/{rule_id}", summary="Change an immutability rule")
async def update_rule(
    request: Request,
    project: str,
    rule_id: RuleId,
    caller: ImmutabilityManager,
    body: ImmutabilityRuleUpdate,
) -> ImmutabilityRule:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    for required in ("kind", "pattern"):
        if required in changes and changes[required] is None:
            raise ProblemError(422, f"{required}: a rule always has one")
    try:
        rule = await immutability(request).update(project, rule_id, changes, caller.subject)
    except PatternInvalid as exc:
        raise _invalid(exc) from None
    if rule is None:
        raise _missing(project, rule_id)
    return _out(rule)


@router.delete("/{rule_id}", status_code=204, summary="Remove an immutability rule")
async def delete_rule(
    request: Request, project: str, rule_id: RuleId, caller: ImmutabilityManager
) -> Response:
    if not await immutability(request).delete(project, rule_id, caller.subject or None):
        raise _missing(project, rule_id)
    return Response(status_code=204)
