"""What each management API route needs of its caller, declared once per route.

Every route takes its caller from one of the dependencies made here: `public`,
`authenticated`, `person`, `admin`, `self_or_admin`, `project_creator` or
`in_project(action)`. Each carries its `Need`, so the policy of the whole API can be read
off the routes (`need_of`); tests/api/test_route_policy.py fails for a route without one.
Decisions about projects ask `Principal.allowed`, which reads `policy.MATRIX`.

A caller who may do nothing in a private project is told it does not exist (404), so names
of private projects do not leak; one who may see it but not do this gets 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.requests import Request
from starlette.routing import Router

from cargobay.api.problems import ProblemError
from cargobay.auth.errors import AuthError
from cargobay.auth.policy import Action
from cargobay.auth.principal import ANONYMOUS, Kind, Principal
from cargobay.auth.service import AccessService, grants_api
from cargobay.registry.access import authenticate


class Rule(StrEnum):
    PUBLIC = "public"  # anyone, without credentials
    # Anyone; credentials, if sent, must be valid. The route answers with what the caller
    # may see (anonymous callers: public projects only).
    ANYONE = "anyone"
    AUTHENTICATED = "authenticated"  # any user or robot
    PERSON = "person"  # a user with their own full rights (not a token, not a robot)
    ADMIN = "admin"  # a system administrator, as a person
    SELF_OR_ADMIN = "self_or_admin"  # the user named in the path, or an administrator
    PROJECT_CREATOR = "project_creator"  # an administrator, or any person with self-service
    PROJECT = "project"  # `action` in the project named in the path


@dataclass(frozen=True, slots=True)
class Need:
    rule: Rule
    action: Action | None = None  # PROJECT: the action; None: any (the caller can see it)
    param: str | None = None  # the path parameter naming the project or the user

    def __str__(self) -> str:
        if self.rule is Rule.PROJECT:
            return f"{self.action or 'any action'} in {{{self.param}}}"
        return self.rule.value


Guard = Callable[[Request], Awaitable[Principal]]


def routes(api: Router) -> list[RouteContext]:
    """Every route of the API, with the routers it was included through flattened."""
    return list(iter_route_contexts(api.routes))


def need_of(route: RouteContext) -> Need | None:
    """The need a route declares: its guard's (exactly one), or for FastAPI's own routes
    (the OpenAPI document, the docs page) the `needs` that `api.app` gives their endpoints."""
    if isinstance(route.original_route, APIRoute):
        found = [getattr(d.call, "need", None) for d in route.dependant.dependencies]
        declared = [need for need in found if need is not None]
        return declared[0] if len(declared) == 1 else None
    return getattr(route.endpoint, "needs", None)


def access(request: Request) -> AccessService:
    return request.app.state.access


def _challenge(request: Request) -> str:
    settings = request.app.state.settings
    base = (settings.external_url or f"{request.url.scheme}://{request.url.netloc}").rstrip("/")
    return (
        f'Basic realm="cargobay", '
        f'Bearer realm="{base}/auth/token",service="{settings.token_service}"'
    )


def unauthorized(request: Request, detail: str = "authentication required") -> ProblemError:
    return ProblemError(401, detail, headers={"WWW-Authenticate": _challenge(request)})


async def _caller(request: Request, anonymous: bool = False) -> Principal:
    try:
        caller, claims, _ = await authenticate(request)
    except AuthError as exc:
        if exc.code == "TOOMANYREQUESTS":
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
            raise ProblemError(429, exc.message, headers=headers) from None
        raise unauthorized(request, exc.message) from None
    if not caller.authenticated:
        if anonymous:
            return caller
        raise unauthorized(request)
    if claims is not None and not grants_api(claims):
        raise unauthorized(
            request, "this token was not issued for the management API (scope registry:api:*)"
        )
    return caller


def _is_person(caller: Principal) -> bool:
    # A personal token narrows its user to some project actions: managing accounts is
    # none of them, so such a caller is not the person here.
    return caller.kind is Kind.USER and caller.grants is None


def _forbidden(detail: str) -> ProblemError:
    return ProblemError(403, detail)


def guard(need: Need) -> Guard:
    """The dependency that lets a request through to its route only if `need` is met."""

    async def check(request: Request) -> Principal:
        if need.rule is Rule.PUBLIC:
            return ANONYMOUS
        if need.rule is Rule.ANYONE:
            return await _caller(request, anonymous=True)
        caller = await _caller(request)
        if need.rule is Rule.AUTHENTICATED:
            return caller
        if need.rule is Rule.PROJECT:
            await _check_project(request, caller, need)
            return caller
        if not _is_person(caller):
            raise _forbidden("this needs a user's own login, not a robot or a personal token")
        if need.rule is Rule.PERSON or caller.is_admin:
            return caller
        if need.rule is Rule.SELF_OR_ADMIN and request.path_params.get(need.param) == caller.name:
            return caller
        if need.rule is Rule.PROJECT_CREATOR and request.app.state.settings.self_service_projects:
            return caller
        raise _forbidden("this needs an administrator")

    check.need = need  # type: ignore[attr-defined]
    return check


async def _check_project(request: Request, caller: Principal, need: Need) -> None:
    assert need.param is not None
    name = request.path_params[need.param]
    project = await access(request).project(name)
    allowed = caller.allowed(project) if project is not None else frozenset()
    if not allowed:
        raise ProblemError(404, f"project {name} does not exist")
    if need.action is not None and need.action not in allowed:
        raise _forbidden(f"{need.action} is not allowed in project {name}")


def _depends(need: Need) -> Any:
    return Depends(guard(need))


# The callers routes take, one per kind of need; a route names exactly one.
Public = Annotated[Principal, _depends(Need(Rule.PUBLIC))]
Anyone = Annotated[Principal, _depends(Need(Rule.ANYONE))]
Authenticated = Annotated[Principal, _depends(Need(Rule.AUTHENTICATED))]
Person = Annotated[Principal, _depends(Need(Rule.PERSON))]
Admin = Annotated[Principal, _depends(Need(Rule.ADMIN))]
SelfOrAdmin = Annotated[Principal, _depends(Need(Rule.SELF_OR_ADMIN, param="name"))]
ProjectCreator = Annotated[Principal, _depends(Need(Rule.PROJECT_CREATOR))]


def in_project(action: Action | None, param: str = "project") -> Any:
    """`Annotated[Principal, in_project(Action.X)]`: the caller may do X in {project}."""
    return _depends(Need(Rule.PROJECT, action, param))


Visible = Annotated[Principal, in_project(None)]
Lister = Annotated[Principal, in_project(Action.LIST)]
Labeller = Annotated[Principal, in_project(Action.LABEL)]
Puller = Annotated[Principal, in_project(Action.PULL)]
ArtifactDeleter = Annotated[Principal, in_project(Action.DELETE_ARTIFACT)]
MemberManager = Annotated[Principal, in_project(Action.MANAGE_MEMBERS)]
RobotManager = Annotated[Principal, in_project(Action.MANAGE_ROBOTS)]
SettingsManager = Annotated[Principal, in_project(Action.MANAGE_SETTINGS)]
