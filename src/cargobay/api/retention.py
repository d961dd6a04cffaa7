"""/projects/{project}/retention-policies: retention policies, their runs and dry runs.

Reading policies and their runs needs `list`; creating, changing, deleting and running
them `manage_retention` (maintainers and project admins).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.jobs import job_out
from cargobay.api.models import Job, RetentionPolicy, RetentionPolicyBody, RetentionRun
from cargobay.api.needs import Lister, in_project
from cargobay.api.pagination import DEFAULT_LIMIT, After, Limit, Page, numeric_cursor, page
from cargobay.api.problems import ProblemError, documented
from cargobay.api.services import retention
from cargobay.auth.policy import Action
from cargobay.auth.principal import Principal
from cargobay.lifecycle.retention import RulesInvalid
from cargobay.lifecycle.retention_service import PolicyNotFound, RetentionService
from cargobay.metadata.retention_store import PolicyRecord, PolicyValues

router = APIRouter(
    prefix="/projects/{project}/retention-policies",
    tags=["retention"],
    responses=documented(401, 403, 404, 422),
)

RetentionManager = Annotated[Principal, in_project(Action.MANAGE_RETENTION)]
MAX_ID = 2**31 - 1


async def policy_out(service: RetentionService, policy: PolicyRecord) -> RetentionPolicy:
    return RetentionPolicy(
        id=policy.id,
        project=policy.project,
        name=policy.name,
        repository=policy.repository,
        enabled=policy.enabled,
        schedule=policy.schedule,
        rules=policy.rules,
        created_by=policy.created_by,
        created_at=policy.created_at,
        next_run_at=await service.next_run(policy),
    )


def _values(body: RetentionPolicyBody) -> PolicyValues:
    return PolicyValues(body.name, body.repository, body.enabled, body.schedule, body.rules)


def _invalid(exc: RulesInvalid) -> ProblemError:
    location = ["body", *exc.field.split(".")]
    return ProblemError(
        422,
        f"{exc.field}: {exc.message}",
        errors=[{"loc": location, "msg": exc.message, "type": "value_error"}],
    )


def _not_found(project: str, policy_id: int) -> ProblemError:
    return ProblemError(404, f"project {project} has no retention policy {policy_id}")


async def _policy(service: RetentionService, project: str, policy_id: int) -> PolicyRecord:
    if not 0 < policy_id <= MAX_ID:
        raise _not_found(project, policy_id)
    try:
        return await service.get(project, policy_id)
    except PolicyNotFound:
        raise _not_found(project, policy_id) from None


@router.get("", summary="List a project's retention policies")
async def list_policies(
    request: Request,
    response: Response,
    project: str,
    caller: Lister,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Page[RetentionPolicy]:
    service = retention(request)
    rows = await service.list(project, limit + 1, numeric_cursor(after))
    result = page(request, response, rows, limit, lambda p: str(p.id), lambda p: p)
    return Page[RetentionPolicy](
        items=[await policy_out(service, p) for p in result.items], next=result.next
    )


@router.post("", status_code=201, summary="Create a retention policy", responses=documented(409))
async def create_policy(
    request: Request, project: str, caller: RetentionManager, body: RetentionPolicyBody
) -> RetentionPolicy:
    service = retention(request)
    try:
        policy = await service.create(project, _values(body), caller.subject)
    except RulesInvalid as exc:
        raise _invalid(exc) from None
    except PolicyNotFound:  # the project was deleted meanwhile
        raise ProblemError(404, f"project {project} does not exist") from None
    return await policy_out(service, policy)


@router.get("/{policy_id}", summary="Show a retention policy")
async def get_policy(
    request: Request, project: str, policy_id: int, caller: Lister
) -> RetentionPolicy:
    service = retention(request)
    return await policy_out(service, await _policy(service, project, policy_id))


@router.put("/{policy_id}", summary="Replace a retention policy", responses=documented(409))
async def update_policy(
    request: Request,
    project: str,
    policy_id: int,
    caller: RetentionManager,
    body: RetentionPolicyBody,
) -> RetentionPolicy:
    service = retention(request)
    await _policy(service, project, policy_id)
    try:
        policy = await service.update(project, policy_id, _values(body), caller.subject)
    except RulesInvalid as exc:
        raise _invalid(exc) from None
    except PolicyNotFound:
        raise _not_found(project, policy_id) from None
    return await policy_out(service, policy)


@router.delete("/{policy_id}", status_code=204, summary="Delete a retention policy")
async def delete_policy(
    request: Request, project: str, policy_id: int, caller: RetentionManager
) -> Response:
    service = retention(request)
    await _policy(service, project, policy_id)
    try:
        await service.delete(project, policy_id, caller.subject)
    except PolicyNotFound:
        raise _not_found(project, policy_id) from None
    return Response(status_code=204)


@router.post(
    "/{policy_id}/run",
    status_code=202,
    summary="Run a policy: queued as a job (202), or a dry run answered at once (200)",
)
async def run_policy(
    request: Request,
    response: Response,
    project: str,
    policy_id: int,
    caller: RetentionManager,
    body: RetentionRun | None = None,
) -> Job:
    service = retention(request)
    await _policy(service, project, policy_id)
    if body is not None and body.dry_run:
        response.status_code = 200
        return job_out(await service.dry_run(project, policy_id, caller.subject))
    return job_out(await service.start_run(project, policy_id, caller.subject))


@router.get("/{policy_id}/runs", summary="List a policy's runs (jobs), newest first")
async def list_runs(
    request: Request,
    response: Response,
    project: str,
    policy_id: int,
    caller: Lister,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Page[Job]:
    service = retention(request)
    await _policy(service, project, policy_id)
    rows = await service.runs(project, policy_id, limit + 1, numeric_cursor(after))
    return page(request, response, rows, limit, lambda j: str(j.id), job_out)
