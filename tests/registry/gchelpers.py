"""Helpers of the garbage collection tests: make rows old, run GC, ask what survived."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from starlette.testclient import TestClient

from cargobay.metadata.models import Blob, Manifest, TagHistory, utcnow
from conformance.helpers import OCI_INDEX, OCI_MANIFEST

ACCEPT = {"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}


def age(
    client: TestClient,
    days: float = 30,
    *,
    pushes: bool = True,
    deletions: bool = True,
    history: bool = True,
) -> None:
    """Move timestamps `days` into the past, as if everything so far happened back then."""
    past = utcnow() - timedelta(days=days)
    engine = client.app.state.registry.metadata.engine
    with engine.begin() as connection:
        if pushes:
            connection.execute(update(Manifest).values(created_at=past))
            connection.execute(update(Blob).values(created_at=past))
        if deletions:
            connection.execute(
                update(Manifest).where(Manifest.deleted_at.is_not(None)).values(deleted_at=past)
            )
        if history:
            connection.execute(update(TagHistory).values(at=past))


def collect(client: TestClient, dry_run: bool = False) -> dict[str, Any]:
    response = client.post("/api/v1/gc", json={"dry_run": dry_run})
    assert response.status_code == 200, response.text
    return response.json()


def removed_manifests(report: dict[str, Any]) -> set[str]:
    return {m["digest"] for m in report["manifests"]}


def removed_blobs(report: dict[str, Any]) -> set[str]:
    return {b["digest"] for b in report["blobs"]}


def blobs_of(body: bytes) -> set[str]:
    document = json.loads(body)
    found = {layer["digest"] for layer in document.get("layers", [])}
    if "config" in document:
        found.add(document["config"]["digest"])
    return found


def manifest_exists(client: TestClient, repo: str, digest: str) -> bool:
    return client.get(f"/v2/{repo}/manifests/{digest}", headers=ACCEPT).status_code == 200


def blob_intact(client: TestClient, repo: str, digest: str) -> bool:
    """The blob is served in `repo` and its bytes hash to its digest."""
    from conformance.helpers import digest_of

    response = client.get(f"/v2/{repo}/blobs/{digest}")
    return response.status_code == 200 and digest_of(response.content) == digest


def bytes_stored(client: TestClient, digest: str) -> bool:
    return client.app.state.registry.blobs.holds(digest)
