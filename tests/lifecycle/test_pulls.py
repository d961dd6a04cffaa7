"""Pull counts and last-pull times: counted in memory, added in batches off the request path."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from cargobay.lifecycle.pulls import PullCounter
from cargobay.metadata.pulls import pulled_since
from conformance.helpers import push_image

ARTIFACTS = "/api/v1/projects/team/repositories/team/app/artifacts"


def _counter(client: TestClient) -> PullCounter:
    return client.app.state.pulls  # type: ignore[attr-defined,no-any-return]


def _flush(client: TestClient) -> None:
    asyncio.run(_counter(client).flush())


def _artifact(client: TestClient, digest: str) -> dict[str, Any]:
    return client.get(f"{ARTIFACTS}/{digest}").json()


def test_pulls_are_counted_after_a_flush(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"name": "team"})
    image = push_image(client, "team/app", "v1")
    for reference in ("v1", "v1", image.digest):
        assert client.get(f"/v2/team/app/manifests/{reference}").status_code == 200
    client.head("/v2/team/app/manifests/v1")  # a HEAD is not a pull
    assert _artifact(client, image.digest)["pull_count"] == 0  # not written yet
    _flush(client)
    shown = _artifact(client, image.digest)
    assert shown["pull_count"] == 3
    assert datetime.fromisoformat(shown["last_pulled_at"]) > datetime.now(UTC) - timedelta(
        minutes=1
    )
    listed = client.get(ARTIFACTS).json()["items"][0]
    assert listed["pull_count"] == 3


def test_flushes_add_up_rather_than_overwrite(client: TestClient) -> None:
    """Several nodes flush their own counts: each adds, and the later time wins."""
    client.post("/api/v1/projects", json={"name": "team"})
    image = push_image(client, "team/app", "v1")
    registry = client.app.state.registry  # type: ignore[attr-defined]
    late, early = datetime(2030, 1, 2, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
    for count, at in ((2, late), (5, early)):
        node = PullCounter(registry.metadata, registry.db)
        node.count("team/app", image.digest, at, count)
        asyncio.run(node.flush())
    shown = _artifact(client, image.digest)
    assert shown["pull_count"] == 7
    assert datetime.fromisoformat(shown["last_pulled_at"]) == late


def test_a_failed_flush_keeps_the_counts_for_the_next(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"name": "team"})
    image = push_image(client, "team/app", "v1")
    client.get("/v2/team/app/manifests/v1")
    counter = _counter(client)
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]

    def fail(*args: Any) -> None:
        raise RuntimeError("the database is away")

    event.listen(engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(RuntimeError):
            asyncio.run(counter.flush())
    finally:
        event.remove(engine, "before_cursor_execute", fail)
    assert counter.pending == 1
    client.get("/v2/team/app/manifests/v1")
    _flush(client)
    assert _artifact(client, image.digest)["pull_count"] == 2
    assert counter.pending == 0


def test_a_pull_writes_nothing_to_the_database(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"name": "team"})
    push_image(client, "team/app", "v1")
    client.get("/v2/team/app/manifests/v1")  # warm the cache
    engine = client.app.state.registry.metadata.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            assert client.get("/v2/team/app/manifests/v1").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    writes = [s for s in statements if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    assert writes == []
    assert _counter(client).pending == 4  # the warming pull too


def test_pulls_of_a_manifest_gone_since_are_dropped(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"name": "team"})
    push_image(client, "team/app", "v1")
    counter = _counter(client)
    counter.count("team/app", "sha256:" + "0" * 64, datetime.now(UTC))
    counter.count("team/gone", "sha256:" + "1" * 64, datetime.now(UTC))
    _flush(client)
    assert counter.pending == 0


def test_retention_asks_which_artifacts_were_pulled_since(client: TestClient) -> None:
    client.post("/api/v1/projects", json={"name": "team"})
    pulled = push_image(client, "team/app", "v1")
    push_image(client, "team/app", "v2")
    client.get("/v2/team/app/manifests/v1")
    _flush(client)
    store = client.app.state.registry.metadata  # type: ignore[attr-defined]
    ids = {a.digest: a.id for a in store.artifacts("team/app", 10, None)}
    with store.engine.connect() as connection:
        recent = pulled_since(connection, ids.values(), datetime.now(UTC) - timedelta(days=1))
    assert recent == {ids[pulled.digest]}


def test_the_counts_are_written_at_shutdown(settings: Any) -> None:
    from cargobay.app import create_app
    from liveserver import ADMIN

    app = create_app(settings)
    with TestClient(app) as client:
        client.auth = ADMIN
        client.post("/api/v1/projects", json={"name": "team"})
        image = push_image(client, "team/app", "v1")
        client.get("/v2/team/app/manifests/v1")
    with TestClient(create_app(settings)) as client:
        client.auth = ADMIN
        assert _artifact(client, image.digest)["pull_count"] == 1
