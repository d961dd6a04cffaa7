"""What every /v2 handler shares: error translation, the service, and request helpers."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from cargobay.oci import names
from cargobay.registry.errors import RegistryError, error_response, from_exception
from cargobay.registry.service import RegistryService

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
logger = logging.getLogger("cargobay.registry")

Handler = Callable[[Request], Awaitable[Response]]


def endpoint(handler: Handler) -> Handler:
    """Run a handler; answer every failure in the OCI error format, never with a traceback."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            error = from_exception(exc)
            if error is None:
                logger.exception("unexpected error in %s %s", request.method, request.url.path)
                error = RegistryError("UNKNOWN", "internal server error", status=500)
            return error_response(error, head=request.method == "HEAD")

    return wrapper


def service(request: Request) -> RegistryService:
    return request.app.state.registry


def repository(request: Request) -> str:
    return names.check_name(request.path_params["name"])


async def body_chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def has_body(request: Request) -> bool:
    """Whether the request carries bytes: a non-zero Content-Length, or a chunked body."""
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() != "0"
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


def content_length(request: Request) -> int | None:
    """The declared body size, if the client sent a valid Content-Length."""
    length = request.headers.get("content-length", "").strip()
    return int(length) if length.isdigit() else None


def int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not value.isdigit():
        # The spec has no pagination error code; UNSUPPORTED is the closest of its codes.
        raise RegistryError(
            "UNSUPPORTED",
            f"{name} must be a non-negative integer",
            {name: value},
            status=400,
        )
    return int(value)
