"""/search: artifacts across every project the caller may list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import SearchResult
from cargobay.api.needs import Anyone, access
from cargobay.api.pagination import DEFAULT_LIMIT, After, Limit, Page, numeric_cursor, page
from cargobay.api.problems import ProblemError, documented
from cargobay.api.services import registry
from cargobay.auth.principal import project_of
from cargobay.lifecycle.search import SearchInvalid, SearchService
from cargobay.metadata.search import Found

router = APIRouter(tags=["search"], responses=documented(401, 422))

Text = Annotated[str | None, Query(max_length=255)]
Filters = Annotated[list[str] | None, Query(max_length=20)]


def result_out(found: Found) -> SearchResult:
    return SearchResult(
        repository=found.repository,
        project=project_of(found.repository),
        digest=found.digest,
        media_type=found.media_type,
        artifact_type=found.artifact_type,
        size=found.size,
        tags=list(found.tags),
        labels=found.labels,
        annotations=found.annotations,
        pushed_at=found.pushed_at,
        pull_count=found.pull_count,
        last_pulled_at=found.last_pulled_at,
    )


@router.get(
    "/search",
    summary="Search artifacts by repository, tag, label and annotation",
    description="Every filter given must match. `q`: part of the repository name or of a "
    "tag; `repository`: part of the name; `tag`: a glob (`v1.*`) or part of a tag; "
    "`label=key=value` (or `key`: any value), repeatable; `annotation=key=value` for "
    "`org.opencontainers.image.*` annotations (`version=1.2` is short for "
    "`org.opencontainers.image.version=1.2`), repeatable. Newest first. Only projects the "
    "caller may list are searched: public ones for anonymous callers.",
)
async def search(
    request: Request,
    response: Response,
    caller: Anyone,
    q: Text = None,
    repository: Text = None,
    tag: Text = None,
    label: Filters = None,
    annotation: Filters = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> Page[SearchResult]:
    service = SearchService(registry(request), access(request))
    try:
        rows = await service.search(
            caller,
            q=q,
            repository=repository,
            tag=tag,
            labels=label,
            annotations=annotation,
            limit=limit + 1,
            after=numeric_cursor(after),
        )
    except SearchInvalid as exc:
        raise ProblemError(422, str(exc)) from None
    return page(request, response, rows, limit, lambda f: str(f.id), result_out)
