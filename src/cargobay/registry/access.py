"""Access control on /v2: every route is wrapped by `guarded` with the action it needs.

The route table (`registry.routes`) names each route's action next to its handler, so the
policy of the whole API reads in one place; tests/auth/test_permission_matrix.py walks that
table and fails for a route that names none.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from cargobay.auth.errors import AuthError
from cargobay.auth.policy import Action
from cargobay.auth.principal import ANONYMOUS, Principal
from cargobay.auth.service import AccessService
from cargobay.auth.tokens import Claims
from cargobay.oci import names
from cargobay.registry.errors import error_response, from_exception
from cargobay.registry.handlers.common import Handler, endpoint, has_body
from cargobay.registry.service import is_digest

REFUSED_BODY_LIMIT = 1 << 20  # bytes of a refused request's body read to keep its connection
PRINCIPAL = "cargobay.principal"  # where the guard leaves the caller in the ASGI scope
CLAIMS = "cargobay.claims"


@dataclass(frozen=True, slots=True)
class Needs:
    """What a route needs. `action` None: any caller who sent credentials (the API root,
    the catalog, which then lists only what the caller may see)."""

    action: Action | None
    # DELETE /manifests/<reference>: deleting a tag and deleting a manifest differ.
    by_reference: Callable[[Request], Action] | None = None

    def action_for(self, request: Request) -> Action | None:
        return self.by_reference(request) if self.by_reference else self.action


def delete_action(request: Request) -> Action:
    reference = request.path_params["reference"]
    return Action.DELETE_ARTIFACT if is_digest(reference) else Action.DELETE_TAG


def access(request: Request) -> AccessService:
    return request.app.state.access


def principal(request: Request) -> Principal:
    return request.scope.get(PRINCIPAL, ANONYMOUS)


async def authenticate(request: Request) -> tuple[Principal, Claims | None, bool]:
    """The caller, the bearer token's claims if any, and whether credentials were sent."""
    header = request.headers.get("authorization")
    if not header:
        return ANONYMOUS, None, False
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        caller, claims = await access(request).bearer(value.strip())
        return caller, claims, True
    if scheme == "basic":
        username, password = basic_credentials(value)
        address = request.client.host if request.client else None
        return await access(request).basic(username, password, address), None, True
    raise AuthError("UNAUTHORIZED", f"unsupported authorization scheme {scheme!r}")


def basic_credentials(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        # ValueError: headers arrive decoded as latin-1, and b64decode refuses a str with
        # non-ASCII characters before binascii ever sees it.
        raise AuthError("UNAUTHORIZED", "malformed basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise AuthError("UNAUTHORIZED", "malformed basic credentials")
    return username, password


def token_realm(request: Request) -> str:
    external = request.app.state.settings.external_url
    base = external.rstrip("/") if external else str(request.base_url).rstrip("/")
    return f"{base}/auth/token"


def challenge(request: Request, error: AuthError) -> str:
    service = request.app.state.settings.token_service
    parts = [f'realm="{token_realm(request)}"', f'service="{service}"']
    if error.scope:
        parts.append(f'scope="{error.scope}"')
    if error.error:
        parts.append(f'error="{error.error}"')
    return "Bearer " + ",".join(parts)


def auth_error_response(request: Request, error: AuthError) -> Response:
    registry_error = from_exception(error)
    assert registry_error is not None
    if error.code == "UNAUTHORIZED":
        registry_error.headers["WWW-Authenticate"] = challenge(request, error)
    return error_response(registry_error, head=request.method == "HEAD")


def guarded(handler: Handler, needs: Needs) -> Handler:
    """`handler`, run only for a caller the policy lets do `needs` in the named repository."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            caller, claims, sent = await authenticate(request)
            action = needs.action_for(request)
            if action is None:
                if not sent:
                    raise AuthError("UNAUTHORIZED", "authentication required")
            else:
                name = names.check_name(request.path_params["name"])
                await access(request).authorize(caller, name, action, claims)
        except AuthError as exc:
            response = auth_error_response(request, exc)
            if not await _discard_body(request):
                response.headers["Connection"] = "close"
            return response
        request.scope[PRINCIPAL] = caller
        request.scope[CLAIMS] = claims
        return await handler(request)

    guarded_handler = endpoint(wrapper)  # any other failure: an OCI error, never a traceback
    guarded_handler.needs = needs  # type: ignore[attr-defined]
    return guarded_handler


async def _discard_body(request: Request) -> bool:
    """Read and drop the body of a refused request, so its connection can carry the next one.

    Clients such as oras-py send each request once without credentials, then again with
    them on the same connection; a refused PATCH whose chunk was left unread made the server
    drop that connection under the retry. False when the body is too large to be worth
    reading: the response then says `Connection: close`.
    """
    if not has_body(request):
        return True
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > REFUSED_BODY_LIMIT:
            return False
    return True


async def may_pull(request: Request, repository: str) -> bool:
    """Whether the caller may read `repository` too (the source of a cross-repository mount)."""
    try:
        await access(request).authorize(
            principal(request), repository, Action.PULL, request.scope.get(CLAIMS)
        )
    except AuthError:
        return False
    return True
