"""Fixtures every test shares: a registry on SQLite and on PostgreSQL, in process or served.

PostgreSQL must answer on 127.0.0.1:5432 (CARGOBAY_TEST_POSTGRES overrides); a test that
needs it and cannot reach it fails rather than skips, so CI cannot go green without it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine
from starlette.testclient import TestClient

from cargobay.app import create_app
from cargobay.config import Settings
from cargobay.events import Dispatcher, Event
from cargobay.metadata.db import migrate
from cargobay.metadata.models import Base
from ldapserver import Slapd
from liveserver import ADMIN, LiveRegistry

POSTGRES_ADMIN = os.environ.get(
    "CARGOBAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)
DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    """Which metadata database the test runs on."""
    return request.param


def _postgres_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One PostgreSQL database per test process, created and migrated once."""
    name = f"cargobay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _postgres_url(POSTGRES_ADMIN, name)
    engine = create_engine(url)
    migrate(engine, Path(tempfile.mkdtemp(prefix="cargobay-migrate-")))
    engine.dispose()
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_tables(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def database_url(database: str, request: pytest.FixtureRequest) -> str | None:
    """None for SQLite (the default, in the data directory), else an emptied PostgreSQL."""
    if database == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_database")
    _empty_tables(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        access_log=False,
        admin_username=ADMIN[0],
        admin_password=ADMIN[1],
        auto_create_projects=True,
    )


@pytest.fixture
def events() -> list[Event]:
    """Every domain event the app under test emits, in order."""
    return []


@pytest.fixture
def client(settings: Settings, events: list[Event]) -> Iterator[TestClient]:
    dispatcher = Dispatcher()
    dispatcher.subscribe(events.append)
    app = create_app(settings, dispatcher)
    # The administrator's Basic credentials on every request: the registry's own behaviour is
    # under test here; tests/auth checks who may do what.
    with TestClient(app) as test_client:
        test_client.auth = ADMIN
        yield test_client


@pytest.fixture
def live_registry(tmp_path: Path, database_url: str | None) -> Iterator[LiveRegistry]:
    registry = LiveRegistry(tmp_path / "data", database_url)
    registry.start()
    try:
        yield registry
    finally:
        registry.kill()


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    """One OpenLDAP server per test process (each xdist worker has its own)."""
    server = Slapd()
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        # Fail, not skip: a machine without slapd must not pass the LDAP tests.
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()
