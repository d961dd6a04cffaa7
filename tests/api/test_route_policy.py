"""Every management API route declares who may call it, in one place, and only the
documented routes are public."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.routing import Mount

from cargobay.api.needs import Rule, need_of, routes
from cargobay.app import create_app
from cargobay.config import Settings


def _api(tmp_path: Path) -> FastAPI:
    app = create_app(Settings(data_dir=tmp_path / "data", access_log=False))
    mounts = [r for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1"]
    assert len(mounts) == 1
    api = mounts[0].app
    assert isinstance(api, FastAPI)
    return api


def test_every_api_route_declares_exactly_one_need(tmp_path: Path) -> None:
    undeclared = [
        f"{sorted(route.methods or [])} {route.path}"
        for route in routes(_api(tmp_path).router)
        if need_of(route) is None
    ]
    assert undeclared == []


def test_only_system_info_and_the_api_documents_are_public(tmp_path: Path) -> None:
    public = {
        route.path
        for route in routes(_api(tmp_path).router)
        if (need := need_of(route)) is not None and need.rule is Rule.PUBLIC
    }
    assert public == {"/system/info", "/openapi.json", "/docs", "/docs/oauth2-redirect"}


def test_only_search_answers_anonymous_callers_with_what_is_public(tmp_path: Path) -> None:
    anyone = {
        route.path
        for route in routes(_api(tmp_path).router)
        if (need := need_of(route)) is not None and need.rule is Rule.ANYONE
    }
    assert anyone == {"/search"}


def test_project_needs_name_a_parameter_of_their_path(tmp_path: Path) -> None:
    for route in routes(_api(tmp_path).router):
        need = need_of(route)
        if need is not None and need.rule in (Rule.PROJECT, Rule.SELF_OR_ADMIN):
            assert f"{{{need.param}}}" in (route.path or ""), route.path
