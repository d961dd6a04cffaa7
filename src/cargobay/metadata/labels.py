"""Labels (key=value) on artifacts: one row per manifest and key."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from cargobay.metadata.models import ArtifactLabel, Manifest, Repository, as_utc, utcnow

if TYPE_CHECKING:  # the store imports this module (through search)
    from cargobay.metadata.store import MetadataStore


@dataclass(frozen=True, slots=True)
class Label:
    key: str
    value: str
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LabelChange:
    manifest_id: int
    previous: str | None  # the value the key had before, None if it had none


def _manifest_id(connection: Connection, repository: str, digest: str) -> int | None:
    return connection.scalar(
        select(Manifest.id)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(
            Repository.name == repository,
            Manifest.digest == digest,
            Manifest.deleted_at.is_(None),
        )
    )


def labels_of(
    source: Connection | Engine | MetadataStore, manifest_ids: Collection[int]
) -> dict[int, dict[str, str]]:
    """The labels of these manifests: {manifest_id: {key: value}} (only ids with labels).

    For the retention engine and the listings; `source` is an open connection (inside a
    transaction) or a store or engine to read from.
    """
    if not manifest_ids:
        return {}
    if isinstance(source, Connection):
        return _labels_of(source, manifest_ids)
    engine = source if isinstance(source, Engine) else source.engine
    with engine.connect() as connection:
        return _labels_of(connection, manifest_ids)


def _labels_of(connection: Connection, manifest_ids: Collection[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    ids = sorted(set(manifest_ids))
    for start in range(0, len(ids), 500):  # keep IN lists a reasonable size
        query = (
            select(ArtifactLabel.manifest_id, ArtifactLabel.key, ArtifactLabel.value)
            .where(ArtifactLabel.manifest_id.in_(ids[start : start + 500]))
            .order_by(ArtifactLabel.manifest_id, ArtifactLabel.key)
        )
        for manifest_id, key, value in connection.execute(query):
            found.setdefault(manifest_id, {})[key] = value
    return found


class LabelStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def labels(self, repository: str, digest: str) -> list[Label] | None:
        """An artifact's labels by key; None if there is no such artifact."""
        with self.store.engine.connect() as connection:
            manifest_id = _manifest_id(connection, repository, digest)
            if manifest_id is None:
                return None
            rows = connection.execute(
                select(
                    ArtifactLabel.key,
                    ArtifactLabel.value,
                    ArtifactLabel.created_by,
                    ArtifactLabel.created_at,
                )
                .where(ArtifactLabel.manifest_id == manifest_id)
                .order_by(ArtifactLabel.key)
            ).all()
        return [Label(r.key, r.value, r.created_by, as_utc(r.created_at)) for r in rows]

    def set_label(
        self, repository: str, digest: str, key: str, value: str, actor: str | None
    ) -> LabelChange | None:
        """Set a label (replacing the key's value); None if there is no such artifact."""
        with self.store._write() as connection:
            manifest_id = _manifest_id(connection, repository, digest)
            if manifest_id is None:
                return None
            where = (ArtifactLabel.manifest_id == manifest_id, ArtifactLabel.key == key)
            previous = connection.scalar(select(ArtifactLabel.value).where(*where))
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            upsert = dialect.insert(ArtifactLabel)
            connection.execute(
                upsert.on_conflict_do_update(
                    index_elements=[ArtifactLabel.manifest_id, ArtifactLabel.key],
                    set_={
                        "value": upsert.excluded.value,
                        "created_by": upsert.excluded.created_by,
                        "created_at": upsert.excluded.created_at,
                    },
                ),
                {
                    "manifest_id": manifest_id,
                    "key": key,
                    "value": value,
                    "created_by": actor,
                    "created_at": utcnow(),
                },
            )
            return LabelChange(manifest_id, previous)

    def remove_label(self, repository: str, digest: str, key: str) -> LabelChange | None:
        """Remove a label; None if there is no such artifact. `previous` None: no such key."""
        with self.store._write() as connection:
            manifest_id = _manifest_id(connection, repository, digest)
            if manifest_id is None:
                return None
            where = (ArtifactLabel.manifest_id == manifest_id, ArtifactLabel.key == key)
            previous = connection.scalar(select(ArtifactLabel.value).where(*where))
            connection.execute(delete(ArtifactLabel).where(*where))
            return LabelChange(manifest_id, previous)
