"""/jobs: the background work queue, for system administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Job, JobStatus
from cargobay.api.needs import Admin
from cargobay.api.pagination import DEFAULT_LIMIT, After, Limit, Page, numeric_cursor, page
from cargobay.api.problems import ProblemError, documented
from cargobay.api.services import jobs
from cargobay.metadata.job_store import JobRecord

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=documented(401, 403, 422))


def job_out(job: JobRecord) -> Job:
    return Job(
        id=job.id,
        kind=job.kind,
        target=job.target,
        payload=job.payload,
        status=job.status,  # type: ignore[arg-type]
        result=job.result,
        error=job.error,
        created_at=job.created_at,
        run_after=job.run_after,
        started_at=job.started_at,
        finished_at=job.finished_at,
        lease_until=job.lease_until,
        node=job.node,
        attempts=job.attempts,
        created_by=job.created_by,
    )


@router.get("", summary="List background jobs, newest first")
async def list_jobs(
    request: Request,
    response: Response,
    caller: Admin,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    kind: Annotated[str | None, Query(max_length=64, description="Only this kind.")] = None,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
) -> Page[Job]:
    rows = await jobs(request).queue.list(
        limit + 1, numeric_cursor(after), kind=kind, status=status
    )
    return page(request, response, rows, limit, lambda j: str(j.id), job_out)


@router.get("/{job_id}", summary="Show a job with its result", responses=documented(404))
async def get_job(request: Request, job_id: int, caller: Admin) -> Job:
    job = await jobs(request).queue.get(job_id) if job_id <= 2**62 else None
    if job is None:
        raise ProblemError(404, f"job {job_id} does not exist")
    return job_out(job)
