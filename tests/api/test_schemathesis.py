"""Schemathesis drives every operation of /api/v1/openapi.json, in process, as an
administrator: no answer may be a server error, and every answer must match the schema."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.routing import Mount
from starlette.testclient import TestClient

from cargobay.app import create_app
from cargobay.config import Settings
from liveserver import ADMIN

from .helpers import make_project

AUTH = {"Authorization": "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode()}
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.mark.slow
def test_every_operation_answers_without_server_errors_and_as_documented(
    tmp_path: Path,
) -> None:
    app = create_app(
        Settings(
            data_dir=tmp_path / "data",
            access_log=False,
            admin_username=ADMIN[0],
            admin_password=ADMIN[1],
        )
    )
    with TestClient(app) as client:  # runs the lifespan: the administrator exists
        client.auth = ADMIN
        make_project(client, "team")  # so that some project routes find one
        api = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1")
        assert isinstance(api, FastAPI)
        schema = schemathesis.openapi.from_asgi("/openapi.json", api)
        failures: list[str] = []
        statuses: list[int] = []
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy())
            @settings(
                max_examples=25,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                response = case.call_and_validate(headers=AUTH, checks=CHECKS)
                statuses.append(response.status_code)

            try:
                run()
            except Exception as exc:  # collect them all, then report together
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        assert failures == [], "\n\n".join(failures)
        assert 200 in statuses and len(statuses) > 100  # it did call the API
