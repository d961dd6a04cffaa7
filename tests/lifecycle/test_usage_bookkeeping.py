"""The usage counters under garbage collection's hooks, and migration 0008's backfill."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, delete, select, text
from starlette.testclient import TestClient

from cargobay.metadata import usage
from cargobay.metadata.db import MIGRATIONS
from cargobay.metadata.models import Blob, Manifest, Project, ProjectBlob
from conformance.helpers import digest_of, push_blob, push_image, random_bytes

REVISION = "0008"  # this feature's migration
POSTGRES_ADMIN = os.environ.get(
    "CARGOBAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_url(name: str) -> str:
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}"


def _used(client: TestClient, project: str = "team") -> int:
    return client.get(f"/api/v1/projects/{project}/usage").json()["used_bytes"]


def test_removing_blobs_uncounts_them_in_every_project(client: TestClient) -> None:
    """usage.forget_blobs: what garbage collection calls as it deletes `blobs` rows."""
    client.post("/api/v1/projects", json={"name": "team"})
    client.post("/api/v1/projects", json={"name": "other"})
    blob, kept = random_bytes(400), random_bytes(100)
    for repository in ("team/a", "team/b", "other/a"):
        push_blob(client, repository, blob)
    push_blob(client, "team/a", kept)
    store = client.app.state.registry.metadata  # type: ignore[attr-defined]
    with store._write() as connection:
        amounts = usage.forget_blobs(connection, [digest_of(blob)])
        connection.execute(delete(Blob).where(Blob.digest == digest_of(blob)))
    with store._write() as connection:
        assert usage.uncount(connection, amounts) == 800
    assert (_used(client), _used(client, "other")) == (100, 0)
    with store.engine.connect() as connection:
        assert connection.scalar(select(ProjectBlob.digest)) == digest_of(kept)


def test_removing_manifest_rows_uncounts_their_payloads(client: TestClient) -> None:
    """usage.forget_manifests: what garbage collection calls as it deletes manifest rows."""
    client.post("/api/v1/projects", json={"name": "team"})
    image = push_image(client, "team/app", "v1")
    before = _used(client)
    store = client.app.state.registry.metadata  # type: ignore[attr-defined]
    with store._write() as connection:
        ids = list(connection.scalars(select(Manifest.id)))
        amounts = usage.forget_manifests(connection, ids)
        connection.execute(delete(Manifest).where(Manifest.id.in_(ids)))
    with store._write() as connection:
        assert usage.uncount(connection, amounts) == len(image.body)
    assert _used(client) == before - len(image.body)
    with store._write() as connection:
        assert usage.recount(connection) == []  # the counter agrees with the content


@pytest.fixture
def empty_database(database: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no schema at all."""
    if database == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"cargobay_migration_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_url(name)
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alembic(engine: Engine) -> tuple[Config, str]:
    """Alembic's configuration, and the revision just before this feature's migration."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    before = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    assert isinstance(before, str)
    return config, before


def test_the_migration_counts_and_indexes_what_was_stored_before(empty_database: str) -> None:
    engine = create_engine(empty_database)
    config, before = _alembic(engine)
    command.upgrade(config, before)
    payload = json.dumps(
        {
            "schemaVersion": 2,
            "annotations": {"org.opencontainers.image.version": "1.0", "other": "x"},
        }
    ).encode()
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO projects (id, name, public, created_at) VALUES "
            "(1, 'team', false, CURRENT_TIMESTAMP), (2, 'library', false, CURRENT_TIMESTAMP),"
            " (3, 'te_m', false, CURRENT_TIMESTAMP)",
            "INSERT INTO repositories (id, name, created_at) VALUES (1, 'team/a', "
            "CURRENT_TIMESTAMP), (2, 'team/b', CURRENT_TIMESTAMP), (3, 'busybox', "
            "CURRENT_TIMESTAMP)",
            "INSERT INTO blobs (digest, size, created_at) VALUES ('sha256:a', 100, "
            "CURRENT_TIMESTAMP), ('sha256:b', 10, CURRENT_TIMESTAMP)",
            "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES "
            "(1, 'sha256:a', CURRENT_TIMESTAMP), (2, 'sha256:a', CURRENT_TIMESTAMP), "
            "(3, 'sha256:b', CURRENT_TIMESTAMP)",
        ):
            connection.execute(text(statement))
        connection.execute(
            text(
                "INSERT INTO manifests (id, repository_id, digest, media_type, size, payload, "
                "created_at) VALUES (1, 1, 'sha256:m', 'x', :size, :payload, CURRENT_TIMESTAMP)"
            ),
            {"size": len(payload), "payload": payload},
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        used = dict(connection.execute(select(Project.name, Project.used_bytes)).all())
        links = connection.execute(
            select(ProjectBlob.project_id, ProjectBlob.digest, ProjectBlob.links)
        ).all()
        annotations = connection.execute(text("SELECT key, value FROM artifact_annotations")).all()
    engine.dispose()
    assert used == {"team": 100 + len(payload), "library": 10, "te_m": 0}
    assert sorted(links) == [(1, "sha256:a", 2), (2, "sha256:b", 1)]
    assert annotations == [("org.opencontainers.image.version", "1.0")]


def test_the_migration_downgrades(empty_database: str) -> None:
    engine = create_engine(empty_database)
    config, before = _alembic(engine)
    command.upgrade(config, "head")
    command.downgrade(config, before)
    command.upgrade(config, "head")
    engine.dispose()
