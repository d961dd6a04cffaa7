"""A repository's tag history, and restores from it.

    GET  /projects/{project}/history/{repository}   (list)      newest first, ?tag= filters
    POST /projects/{project}/restore/{repository}   (rollback)  one tag, or every tag at a time

The repository's name comes last in the path, after a fixed word, and never before a
suffix: a repository may be called anything (`team/history`, `team/app/restore`,
`team/app/tags/v1`) and still be named by exactly one path. A suffix route beside
`/repositories/{repository:path}` could not tell `team/app` + `/history` from a repository
named `team/app/history`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field, model_validator
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Body
from cargobay.api.needs import Lister, in_project
from cargobay.api.pagination import DEFAULT_LIMIT, After, Limit, Page, numeric_cursor, page
from cargobay.api.problems import ProblemError, documented
from cargobay.auth.policy import Action
from cargobay.auth.principal import Principal, project_of
from cargobay.lifecycle.history import HistoryService
from cargobay.metadata.history import HistoryEntry as EntryRecord
from cargobay.metadata.store import Restore
from cargobay.oci import names

Rollbacker = Annotated[Principal, in_project(Action.ROLLBACK)]
TagName = Annotated[str, Field(min_length=1, max_length=128, examples=["v1.2.0"])]

router = APIRouter(
    prefix="/projects/{project}",
    tags=["history"],
    responses=documented(400, 401, 403, 404, 422),
)


class HistoryEntry(BaseModel):
    id: int
    tag: str
    old_digest: str | None = Field(description="None: the change created the tag")
    new_digest: str | None = Field(description="None: the change deleted the tag")
    operation: str = Field(examples=["push", "delete", "api", "rollback", "promotion"])
    actor: str | None
    at: datetime


class RestoreRequest(Body):
    """Either `tag` and `digest` (point the tag at that manifest), or `at` (every tag, or
    only `tag`, back where it was at that time)."""

    tag: TagName | None = None
    digest: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    at: AwareDatetime | None = Field(None, description="RFC 3339, with its offset")
    dry_run: bool = Field(False, description="Answer what would change, change nothing")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.digest is None) == (self.at is None):
            raise ValueError("give either digest (with tag) or at")
        if self.digest is not None and self.tag is None:
            raise ValueError("a digest is restored to a tag: give tag too")
        return self


class TagRestore(BaseModel):
    tag: str
    old_digest: str | None = Field(description="None: the tag did not exist")
    new_digest: str | None = Field(description="None: the tag is deleted")


class RestoreResult(BaseModel):
    dry_run: bool
    changes: list[TagRestore]
    restored_manifests: list[str] = Field(description="Deleted manifests brought back")


def history(request: Request) -> HistoryService:
    return request.app.state.history  # type: ignore[no-any-return]


def _in_project(project: str, repository: str) -> str:
    names.check_name(repository)  # an OCIError: 400 NAME_INVALID
    if project_of(repository) != project:
        raise ProblemError(404, f"repository {repository} is not in project {project}")
    return repository


def _entry(entry: EntryRecord) -> HistoryEntry:
    return HistoryEntry(
        id=entry.id,
        tag=entry.tag,
        old_digest=entry.old_digest,
        new_digest=entry.new_digest,
        operation=entry.operation,
        actor=entry.actor,
        at=entry.at,
    )


@router.get("/history/{repository:path}", summary="List a repository's tag history")
async def list_history(
    request: Request,
    response: Response,
    project: str,
    repository: str,
    caller: Lister,
    tag: Annotated[str | None, Query(max_length=128, description="Only this tag")] = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Page[HistoryEntry]:
    name = _in_project(project, repository)
    rows = await history(request).entries(name, limit + 1, numeric_cursor(after), tag)
    return page(request, response, rows, limit, lambda e: str(e.id), _entry)


@router.post(
    "/restore/{repository:path}",
    summary="Restore a tag to an earlier digest, or the repository's tags to a time",
    responses=documented(409),
)
async def restore(
    request: Request, project: str, repository: str, caller: Rollbacker, body: RestoreRequest
) -> RestoreResult:
    name = _in_project(project, repository)
    service = history(request)
    actor = caller.subject or None
    if body.digest is not None:
        assert body.tag is not None  # the model's rule
        result = await service.restore_tag(name, body.tag, body.digest, actor, body.dry_run)
    else:
        assert body.at is not None
        result = await service.rollback(name, body.at, actor, body.tag, body.dry_run)
    return _result(result, body.dry_run)


def _result(result: Restore, dry_run: bool) -> RestoreResult:
    return RestoreResult(
        dry_run=dry_run,
        changes=[
            TagRestore(tag=c.tag, old_digest=c.old_digest, new_digest=c.new_digest)
            for c in result.changes
        ],
        restored_manifests=list(result.undeleted),
    )
