"""/users: accounts (administrators; users may read themselves and change their password)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import PasswordChange, User, UserCreate, UserUpdate
from cargobay.api.needs import Admin, SelfOrAdmin
from cargobay.api.pagination import DEFAULT_LIMIT, After, Filter, Limit, Page, page
from cargobay.api.problems import ProblemError, documented
from cargobay.api.services import accounts
from cargobay.auth.accounts import UNSET
from cargobay.metadata.access_store import UserDetails

router = APIRouter(prefix="/users", tags=["users"], responses=documented(401, 403, 422))


def user_out(user: UserDetails) -> User:
    return User(
        name=user.name,
        email=user.email,
        source=user.source,
        is_admin=user.is_admin,
        disabled=user.disabled,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


@router.get("", summary="List users")
async def list_users(
    request: Request,
    response: Response,
    caller: Admin,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    q: Filter = None,
) -> Page[User]:
    rows = await accounts(request).list_users(limit + 1, after, q)
    return page(request, response, rows, limit, lambda u: u.name, user_out)


@router.post("", status_code=201, summary="Create a user", responses=documented(409))
async def create_user(request: Request, caller: Admin, body: UserCreate) -> User:
    user = await accounts(request).create_user(
        body.name, body.password, email=body.email, is_admin=body.is_admin, actor=caller
    )
    return user_out(user)


@router.get("/{name}", summary="Show a user", responses=documented(404))
async def get_user(request: Request, name: str, caller: SelfOrAdmin) -> User:
    return user_out(await accounts(request).user(name))


@router.patch("/{name}", summary="Change a user", responses=documented(404, 409))
async def update_user(request: Request, name: str, caller: Admin, body: UserUpdate) -> User:
    if name == caller.name and (body.disabled or body.is_admin is False):
        # The last step before locking every administrator out; another admin may do it.
        raise ProblemError(409, "you cannot disable yourself or drop your own admin rights")
    user = await accounts(request).update_user(
        name,
        email=body.email if "email" in body.model_fields_set else UNSET,
        is_admin=body.is_admin,
        disabled=body.disabled,
        password=body.password,
        actor=caller,
    )
    return user_out(user)


@router.put(
    "/{name}/password", status_code=204, summary="Set a password", responses=documented(404)
)
async def change_password(
    request: Request, name: str, caller: SelfOrAdmin, body: PasswordChange
) -> Response:
    service = accounts(request)
    if not caller.is_admin:
        current = body.current_password or ""
        if not await service.password_matches(name, current):
            raise ProblemError(403, "current_password is wrong")
    await service.update_user(name, password=body.password, actor=caller)
    return Response(status_code=204)


@router.delete("/{name}", status_code=204, summary="Delete a user", responses=documented(404, 409))
async def delete_user(request: Request, name: str, caller: Admin) -> Response:
    if name == caller.name:
        raise ProblemError(409, "you cannot delete yourself")
    await accounts(request).delete_user(name, actor=caller)
    return Response(status_code=204)
