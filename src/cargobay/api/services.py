"""The services routes call, from the application's state (set by `api.app.create_api`)."""

from __future__ import annotations

from starlette.requests import Request

from cargobay.auth.accounts import Accounts
from cargobay.registry.service import RegistryService


def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def registry(request: Request) -> RegistryService:
    return request.app.state.registry
