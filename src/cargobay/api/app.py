"""The management API: a FastAPI application mounted at /api/v1 by `cargobay.app`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from cargobay import __version__
from cargobay.api import (
    gc,
    history,
    immutability,
    jobs,
    labels,
    members,
    problems,
    projects,
    promotion,
    repositories,
    retention,
    robots,
    search,
    system,
    tokens,
    usage,
    users,
    versions,
)
from cargobay.api.needs import Need, Rule, routes
from cargobay.auth.accounts import Accounts
from cargobay.auth.service import AccessService
from cargobay.config import Settings
from cargobay.lifecycle.gc import GarbageCollector
from cargobay.lifecycle.history import HistoryService
from cargobay.lifecycle.immutability import ImmutabilityService
from cargobay.registry.service import RegistryService

ROUTERS = (
    system.router,
    tokens.router,  # before users: /users/me/tokens is not a user
    users.router,
    projects.router,
    members.router,
    robots.project_router,
    robots.system_router,
    promotion.stages_router,
    # Before repositories: its `{repository:path}` would take their paths.
    versions.router,
    promotion.router,
    search.router,
    # Before repositories: its `/{repository:path}` would take their paths.
    labels.router,
    usage.router,
    repositories.router,
    history.router,
    immutability.router,
    retention.router,
    jobs.router,
    gc.router,
)


def create_api(
    registry: RegistryService,
    access: AccessService,
    accounts: Accounts,
    settings: Settings,
    collector: GarbageCollector | None = None,
) -> FastAPI:
    api = FastAPI(
        title="Cargobay management API",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    api.state.registry = registry
    api.state.access = access  # registry.access.authenticate finds it here
    api.state.accounts = accounts
    api.state.settings = settings
    api.state.history = HistoryService(registry)
    api.state.immutability = ImmutabilityService(registry)
    api.state.gc = collector
    problems.install(api)
    for router in ROUTERS:
        api.include_router(router)
    # FastAPI's own routes (the OpenAPI document, the docs page) are the only public ones
    # besides /system/info; they declare it like every other route does.
    for route in routes(api.router):
        if not isinstance(route.original_route, APIRoute):
            route.endpoint.needs = Need(Rule.PUBLIC)  # type: ignore[union-attr]
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with errors served as what they are: application/problem+json."""
    if api.openapi_schema is None:
        document = get_openapi(title=api.title, version=api.version, routes=api.routes)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[problems.MEDIA_TYPE] = content.pop("application/json")
        api.openapi_schema = document
    return api.openapi_schema
