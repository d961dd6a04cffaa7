"""/users/me/tokens: the caller's personal access tokens."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cargobay.api.models import Permission, Token, TokenCreate, TokenWithSecret
from cargobay.api.needs import Person
from cargobay.api.pagination import DEFAULT_LIMIT, After, Filter, Limit, Page, page
from cargobay.api.problems import documented
from cargobay.api.services import accounts
from cargobay.metadata.access_store import TokenRecord

router = APIRouter(
    prefix="/users/me/tokens", tags=["tokens"], responses=documented(401, 403, 404, 422)
)


def token_out(token: TokenRecord) -> Token:
    return Token(
        name=token.name,
        permissions=[Permission.model_validate(p) for p in token.permissions],
        expires_at=token.expires_at,
        revoked=token.revoked,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
    )


@router.get("", summary="List my personal access tokens")
async def list_tokens(
    request: Request,
    response: Response,
    caller: Person,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
    q: Filter = None,
) -> Page[Token]:
    rows = await accounts(request).list_tokens(caller, limit + 1, after, q)
    return page(request, response, rows, limit, lambda t: t.name, token_out)


@router.post(
    "", status_code=201, summary="Create a personal access token", responses=documented(409)
)
async def create_token(request: Request, caller: Person, body: TokenCreate) -> TokenWithSecret:
    created = await accounts(request).create_token(
        caller,
        body.name,
        [p.model_dump(mode="json") for p in body.permissions],
        body.expires_at,
    )
    return TokenWithSecret(**token_out(created.token).model_dump(), secret=created.secret)


@router.get("/{token}", summary="Show a personal access token")
async def get_token(request: Request, token: str, caller: Person) -> Token:
    return token_out(await accounts(request).token(caller, token))


@router.post("/{token}/revoke", summary="Revoke a personal access token")
async def revoke_token(request: Request, token: str, caller: Person) -> Token:
    return token_out(await accounts(request).revoke_token(caller, token))


@router.delete("/{token}", status_code=204, summary="Delete a personal access token")
async def delete_token(request: Request, token: str, caller: Person) -> Response:
    await accounts(request).delete_token(caller, token)
    return Response(status_code=204)
