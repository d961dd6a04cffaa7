"""The services routes call, from the application's state (set by `api.app.create_api`)."""

from __future__ import annotations

from starlette.requests import Request

from cargobay.auth.accounts import Accounts
from cargobay.jobs import Jobs
from cargobay.lifecycle.retention_service import RetentionService
from cargobay.registry.service import RegistryService


def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def registry(request: Request) -> RegistryService:
    return request.app.state.registry


def jobs(request: Request) -> Jobs:
    return request.app.state.jobs


def retention(request: Request) -> RetentionService:
    return request.app.state.retention
