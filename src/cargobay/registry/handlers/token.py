"""The token endpoint of Docker's token authentication (GET and OAuth2 POST /auth/token).

A client that met a `401` with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`
asks here, with Basic credentials or none, for a token granting the scopes it names. The
token grants the intersection of what was asked and what the account may do; asking for
more than that is not an error, the token simply grants less.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cargobay.auth.errors import AuthError
from cargobay.auth.principal import ANONYMOUS, Principal
from cargobay.registry.access import access, auth_error_response, basic_credentials
from cargobay.registry.errors import error_response, from_exception
from cargobay.registry.handlers.common import endpoint

MAX_FORM_BYTES = 64 * 1024


def _scopes(values: list[str]) -> list[str]:
    # Each `scope` parameter may itself hold several scopes separated by spaces.
    return [scope for value in values for scope in value.split()]


def _check_service(request: Request, service: str | None) -> None:
    expected = request.app.state.settings.token_service
    if service is not None and service != expected:
        raise AuthError("DENIED", f"this registry issues tokens for service {expected!r} only")


async def _token_document(
    request: Request, caller: Principal, scopes: list[str], offline: bool
) -> dict[str, Any]:
    service = access(request)
    granted = await service.grant(caller, scopes)
    token, issued_at, ttl = service.issue(caller, granted)
    document: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "expires_in": ttl,
        "issued_at": datetime.fromtimestamp(issued_at, UTC).isoformat().replace("+00:00", "Z"),
    }
    if offline and caller.authenticated:
        ttl_refresh = request.app.state.settings.refresh_token_ttl_seconds
        document["refresh_token"] = service.issue_refresh(caller, ttl_refresh)
    return document


def _no_store(document: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(document, status, headers={"Cache-Control": "no-store"})


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


@endpoint
async def get_token(request: Request) -> Response:
    params = request.query_params
    try:
        _check_service(request, params.get("service"))
        caller = ANONYMOUS
        header = request.headers.get("authorization")
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                raise AuthError("UNAUTHORIZED", "the token endpoint takes Basic credentials")
            username, password = basic_credentials(value)
            caller = await access(request).basic(username, password, _address(request))
        document = await _token_document(
            request,
            caller,
            _scopes(params.getlist("scope")),
            params.get("offline_token", "").lower() == "true",
        )
    except AuthError as exc:
        response = auth_error_response(request, exc)
        if exc.code == "UNAUTHORIZED":  # a Bearer challenge makes no sense here
            response.headers["WWW-Authenticate"] = 'Basic realm="cargobay"'
        return response
    return _no_store(document)


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status)


@endpoint
async def post_token(request: Request) -> Response:
    """OAuth2 password and refresh_token grants, as docker and containerd send them."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _oauth_error("invalid_request", "request body too large", 413)
    try:
        form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        return _oauth_error("invalid_request", "the form is not UTF-8")
    grant_type = form.get("grant_type")
    try:
        _check_service(request, form.get("service"))
        if grant_type == "password":
            username, password = form.get("username"), form.get("password")
            if not username or password is None:
                return _oauth_error("invalid_request", "username and password are required")
            caller = await access(request).basic(username, password, _address(request))
        elif grant_type == "refresh_token":
            refresh = form.get("refresh_token")
            if not refresh:
                return _oauth_error("invalid_request", "refresh_token is required")
            caller = await access(request).refresh(refresh)
        else:
            return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r}")
    except AuthError as exc:
        if exc.code == "TOOMANYREQUESTS":
            error = from_exception(exc)
            assert error is not None
            return error_response(error)
        return _oauth_error(
            "invalid_grant", exc.message, 401 if exc.code == "UNAUTHORIZED" else 403
        )
    scopes = _scopes([form.get("scope", "")])
    document = await _token_document(request, caller, scopes, form.get("access_type") == "offline")
    document["scope"] = " ".join(scopes)
    if grant_type == "refresh_token":
        document["refresh_token"] = form["refresh_token"]
    return _no_store(document)
