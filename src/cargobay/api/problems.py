"""Every error of the management API as an RFC 9457 problem detail, in this one place.

A problem is `application/problem+json` with `type` (always about:blank: the status says
it all), `title` (the status's phrase), `status` and `detail`. Validation problems add
`errors` (where and what, never the value sent: it may be a password).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargobay.auth.accounts import Invalid, NotFound
from cargobay.auth.errors import AuthError
from cargobay.metadata.errors import (
    Conflict,
    ManifestNotFound,
    ManifestReclaimed,
    MetadataError,
    TagImmutable,
    TagUnknown,
)
from cargobay.oci.errors import OCIError
from cargobay.registry.errors import RegistryError, from_exception
from cargobay.storage import StorageError

logger = logging.getLogger("cargobay.api")
MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raised anywhere in the API to answer with a problem detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def problem_response(
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status, headers=headers, media_type=MEDIA_TYPE)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.detail, exc.headers, exc.errors)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error["loc"]],
            "msg": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in errors
    )
    return problem_response(422, detail or "invalid request", errors=errors)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Invalid)
    errors = [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]
    return problem_response(422, f"{exc.field}: {exc.message}", errors=errors)


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NotFound)
    return problem_response(404, exc.message)


async def _conflict(request: Request, exc: Exception) -> Response:
    return problem_response(409, str(exc))


# The API's statuses for refusals about the registry's state (on /v2 they are OCI errors):
# an immutable tag or a reclaimed manifest conflicts with what is stored, whoever asks.
_METADATA_STATUS: dict[type[MetadataError], int] = {
    TagImmutable: 409,
    ManifestReclaimed: 409,
    ManifestNotFound: 404,
    TagUnknown: 404,
}


async def _metadata(request: Request, exc: Exception) -> Response:
    return problem_response(_METADATA_STATUS[type(exc)], str(exc))


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    if exc.status_code == 404:
        detail = detail or f"no such resource: {request.url.path}"
    elif exc.status_code == 405:
        detail = detail or f"{request.method} is not allowed on {request.url.path}"
    return problem_response(exc.status_code, detail or "request refused", exc.headers)


async def _registry(request: Request, exc: Exception) -> Response:
    """Errors of the registry's layers (a bad digest, a missing manifest, a refused login)."""
    error = from_exception(exc)
    if error is None:
        logger.exception("unexpected error in %s %s", request.method, request.url.path)
        return problem_response(500, "internal server error")
    return problem_response(error.status, error.message, error.headers)


def install(api: FastAPI) -> None:
    api.add_exception_handler(ProblemError, _problem)
    api.add_exception_handler(RequestValidationError, _validation)
    api.add_exception_handler(Invalid, _invalid)
    api.add_exception_handler(NotFound, _not_found)
    api.add_exception_handler(Conflict, _conflict)
    for refusal in _METADATA_STATUS:
        api.add_exception_handler(refusal, _metadata)
    api.add_exception_handler(HTTPException, _http)
    # The registry's layers' own errors, by class: a handler for Exception alone runs in the
    # server-error middleware, which re-raises after answering.
    for error in (AuthError, RegistryError, OCIError, StorageError, MetadataError):
        api.add_exception_handler(error, _registry)
    api.add_exception_handler(Exception, _registry)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of an operation for these error statuses (see `api.app` for how
    their content type becomes application/problem+json)."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses
    }
