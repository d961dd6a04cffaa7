"""Applications for the auth tests, started with the settings tests/conftest.py uses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from cargobay.app import create_app
from cargobay.config import Settings
from liveserver import ADMIN


def make_settings(data_dir: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings as tests/conftest.py makes them, for fixtures that outlive one test."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        access_log=False,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        auto_create_projects=True,
        **overrides,
    )


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[TestClient]:
    """The application, started (its lifespan creates the administrator), with a client that
    sends the administrator's Basic credentials unless a request says otherwise."""
    with TestClient(create_app(settings)) as client:
        client.auth = ADMIN
        yield client
