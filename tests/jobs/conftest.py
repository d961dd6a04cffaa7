"""A job store on each database, and a second one on the same database (another node)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cargobay.config import Settings
from cargobay.metadata.db import create_db_engine, is_sqlite, migrate, write_gate
from cargobay.metadata.job_store import JobStore
from cargobay.metadata.runner import Runner


@pytest.fixture
def stores(settings: Settings) -> Iterator[tuple[JobStore, JobStore]]:
    """Two nodes' job stores: separate engines (connection pools) on one database."""
    engines = [create_db_engine(settings) for _ in range(2)]
    migrate(engines[0], settings.data_dir)
    try:
        yield tuple(JobStore(engine, write_gate(engine)) for engine in engines)  # type: ignore[misc]
    finally:
        for engine in engines:
            engine.dispose()


@pytest.fixture
def store(stores: tuple[JobStore, JobStore]) -> JobStore:
    return stores[0]


@pytest.fixture
def runner(store: JobStore) -> Iterator[Runner]:
    db = Runner(is_sqlite(store.engine))
    yield db
    db.close()
