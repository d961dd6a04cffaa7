"""/gc: run garbage collection (or a dry run) and list past runs; system administrators only."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.needs import Admin
from cargobay.api.pagination import DEFAULT_LIMIT, After, Limit, Page, numeric_cursor, page
from cargobay.api.problems import ProblemError, documented
from cargobay.lifecycle.gc import GarbageCollector, GcBusy, GcReport
from cargobay.metadata.gc_store import RunRecord

router = APIRouter(prefix="/gc", tags=["garbage collection"], responses=documented(401, 403, 422))


class GcRequest(BaseModel):
    dry_run: bool = Field(False, description="Report what would be removed; remove nothing.")


class RemovedManifest(BaseModel):
    repository: str
    digest: str
    size: int


class RemovedBlob(BaseModel):
    digest: str
    size: int


class GcFigures(BaseModel):
    manifests_removed: int
    blobs_removed: int
    bytes_reclaimed: int
    uploads_purged: int


class GcRunReport(GcFigures):
    """What a run removed (or, in a dry run, would remove), item by item."""

    run_id: int
    dry_run: bool
    started_at: datetime
    duration_seconds: float
    manifests: list[RemovedManifest]
    blobs: list[RemovedBlob]


class GcRun(GcFigures):
    id: int
    node: str
    actor: str | None
    dry_run: bool
    status: str = Field(description="running, finished or failed")
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    error: str | None


def collector(request: Request) -> GarbageCollector:
    return request.app.state.gc


def report_out(report: GcReport) -> GcRunReport:
    figures = report.figures
    return GcRunReport(
        run_id=report.run_id,
        dry_run=report.dry_run,
        started_at=report.started_at,
        duration_seconds=report.duration_seconds,
        manifests_removed=figures.manifests_removed,
        blobs_removed=figures.blobs_removed,
        bytes_reclaimed=figures.bytes_reclaimed,
        uploads_purged=figures.uploads_purged,
        manifests=[
            RemovedManifest(repository=m.repository, digest=m.digest, size=m.size)
            for m in report.manifests
        ],
        blobs=[RemovedBlob(digest=b.digest, size=b.size) for b in report.blobs],
    )


def run_out(run: RunRecord) -> GcRun:
    return GcRun(
        id=run.id,
        node=run.node,
        actor=run.actor,
        dry_run=run.dry_run,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_seconds=run.duration_seconds,
        error=run.error,
        manifests_removed=run.figures.manifests_removed,
        blobs_removed=run.figures.blobs_removed,
        bytes_reclaimed=run.figures.bytes_reclaimed,
        uploads_purged=run.figures.uploads_purged,
    )


@router.post(
    "",
    summary="Run garbage collection now and report what it removed",
    responses=documented(409),
)
async def run_gc(request: Request, caller: Admin, body: GcRequest | None = None) -> GcRunReport:
    dry_run = body.dry_run if body is not None else False
    try:
        report = await collector(request).run(dry_run=dry_run, actor=caller.subject)
    except GcBusy as exc:
        raise ProblemError(409, str(exc)) from None
    return report_out(report)


@router.get("/runs", summary="List garbage collection runs, newest first")
async def list_runs(
    request: Request,
    response: Response,
    caller: Admin,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Page[GcRun]:
    rows = await collector(request).runs(limit + 1, numeric_cursor(after))
    return page(request, response, rows, limit, lambda r: str(r.id), run_out)
