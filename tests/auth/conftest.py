"""Fixtures of the auth tests: the secret store on each database (`slapd`, a real
OpenLDAP, is in tests/conftest.py: the client tests log in through it too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from cargobay.config import Settings
from cargobay.metadata.db import create_db_engine, migrate
from cargobay.metadata.secret_store import SecretStore

from .apps import make_settings, running


@pytest.fixture(autouse=True)
def _no_master_key_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    # A key in the developer's environment would silently replace the tests' key files.
    for name in ("CARGOBAY_MASTER_KEY", "CARGOBAY_MASTER_KEY_FILE", "CARGOBAY_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def secret_store(settings: Settings) -> Iterator[SecretStore]:
    engine = create_db_engine(settings)
    migrate(engine, settings.data_dir)
    try:
        yield SecretStore(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def module_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One application on SQLite for a whole module: the matrix tests only read accounts,
    so sharing it keeps hundreds of cases fast. Tests that lock or revoke use `client`."""
    with running(make_settings(tmp_path_factory.mktemp("module") / "data")) as client:
        yield client
