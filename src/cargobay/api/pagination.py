"""Keyset pagination shared by every list: `limit` and an opaque `after` cursor in, the
page's items and the `next` cursor out, with an RFC 8288 `Link: <...>; rel="next"` header."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.problems import ProblemError

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
After = Annotated[
    str | None,
    Query(max_length=255, description="The `next` cursor of the previous page."),
]
Filter = Annotated[
    str | None, Query(max_length=255, description="Only items whose name contains this.")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = None  # pass as `after` for the next page; None on the last page


def numeric_cursor(after: str | None) -> int | None:
    """The cursors of lists kept in insertion order are numbers."""
    if after is None:
        return None
    if not after.isdigit() or len(after) > 18:
        raise ProblemError(422, "after: not a cursor of this list")
    return int(after)


def page(
    request: Request,
    response: Response,
    rows: Sequence[R],
    limit: int,
    cursor: Callable[[R], str],
    convert: Callable[[R], T],
) -> Page[T]:
    """A page of `rows` (fetched with `limit + 1` to know whether another page follows)."""
    more = len(rows) > limit
    rows = rows[:limit]
    following = cursor(rows[-1]) if more and rows else None
    if following is not None:
        url = request.url.include_query_params(after=following, limit=limit)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return Page[T](items=[convert(row) for row in rows], next=following)
