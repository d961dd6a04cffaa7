"""Queries of stages and promotion: a project's stage names, and an artifact made visible
in another repository (or under another tag) without copying a byte.

Blobs are stored once by digest; a promotion links them into the target repository
(`repository_blobs`), copies the manifest rows (with an index's children and, if asked,
the referrers whose subject is the artifact) and points the tag through
`MetadataStore._point_tag`, the path every tag change takes, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, insert, select

from cargobay.metadata import usage
from cargobay.metadata.history import Operation
from cargobay.metadata.models import (
    Blob,
    Manifest,
    ManifestReference,
    Project,
    ProjectStage,
)
from cargobay.metadata.versions import float_tags
from cargobay.oci import manifest as oci_manifest

if TYPE_CHECKING:
    from cargobay.metadata.store import MetadataStore, TagChange

#: The stages of a project that has not named its own.
DEFAULT_STAGES = ("dev", "test", "prod")


@dataclass(frozen=True, slots=True)
class Promoted:
    manifests_added: int  # manifest rows the target did not have (or had deleted)
    blobs_linked: int  # blobs made visible in the target (their bytes were never copied)
    referrers: int  # referrers brought along
    tag_changes: tuple[TagChange, ...]
    floated: tuple[TagChange, ...]


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    digest: str
    media_type: str
    payload: bytes


_ROW = select(Manifest.id, Manifest.digest, Manifest.media_type, Manifest.payload)


class PromotionStore:
    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # -- stages ----------------------------------------------------------------------------

    def stages(self, project: str) -> list[str] | None:
        """A project's stages in order; None if there is no such project."""
        with self._store.engine.connect() as connection:
            project_id = _project_id(connection, project)
            if project_id is None:
                return None
            names = connection.scalars(
                select(ProjectStage.name)
                .where(ProjectStage.project_id == project_id)
                .order_by(ProjectStage.position)
            )
            return list(names) or list(DEFAULT_STAGES)

    def set_stages(self, project: str, stages: Sequence[str]) -> bool:
        """Replace a project's stages; False if there is no such project."""
        with self._store._write() as connection:
            project_id = _project_id(connection, project)
            if project_id is None:
                return False
            connection.execute(delete(ProjectStage).where(ProjectStage.project_id == project_id))
            rows = [
                {"project_id": project_id, "position": i, "name": name}
                for i, name in enumerate(stages)
            ]
            connection.execute(insert(ProjectStage), rows)
            return True

    # -- promotion -------------------------------------------------------------------------

    def promote(
        self,
        source: str,
        digest: str,
        target: str,
        tags: Sequence[str],
        with_referrers: bool,
        actor: str | None,
    ) -> Promoted | None:
        """Make `source@digest` visible in `target` and point `tags` at it there (history
        operation `promotion`); None if the source does not hold that manifest."""
        store = self._store
        with store._write() as connection:
            source_id = store._repository_id(connection, source)
            root = _manifest(connection, source_id, digest) if source_id is not None else None
            if root is None:
                return None
            rows, referrers = _closure(connection, root, source_id, with_referrers)
            target_id = store._ensure_repository(connection, target)
            blobs_linked = _link_blobs(connection, store, target_id, [r.id for r in rows])
            added = sum(_copy(connection, store, target_id, row) for row in rows)
            manifest_id = store._manifest_id(connection, target_id, digest)
            changes = tuple(
                change
                for tag in tags
                if (
                    change := store._point_tag(
                        connection,
                        target_id,
                        tag,
                        manifest_id,
                        digest,
                        Operation.PROMOTION,
                        actor,
                    )
                )
            )
            floated = float_tags(
                connection, target_id, tags, manifest_id, digest, actor, store._point_tag
            )
        return Promoted(added, blobs_linked, referrers, changes, floated)


def _project_id(connection: Connection, name: str) -> int | None:
    return connection.scalar(select(Project.id).where(Project.name == name))


def _manifest(connection: Connection, repository_id: int, digest: str) -> _Row | None:
    row = connection.execute(
        _ROW.where(
            Manifest.repository_id == repository_id,
            Manifest.digest == digest,
            Manifest.deleted_at.is_(None),
        )
    ).first()
    return _Row(row.id, row.digest, row.media_type, bytes(row.payload)) if row else None


def _closure(
    connection: Connection, root: _Row, repository_id: int, with_referrers: bool
) -> tuple[list[_Row], int]:
    """The manifest, its children (recursively) and, with referrers, the manifests whose
    subject is any of these; and how many of them came as referrers. A child a sparse index
    lacks in the source is left out, as it is there."""
    found = {root.digest: root}
    queue = [root]
    referrers = 0
    while queue:
        batch, queue = queue, []
        ids = [row.id for row in batch]
        children = select(ManifestReference.digest).where(
            ManifestReference.manifest_id.in_(ids), ManifestReference.kind == "child"
        )
        linked = Manifest.digest.in_(children)
        if with_referrers:
            linked = linked | Manifest.subject_digest.in_([row.digest for row in batch])
        query = _ROW.add_columns(Manifest.subject_digest).where(
            Manifest.repository_id == repository_id, Manifest.deleted_at.is_(None), linked
        )
        for row in connection.execute(query):
            if row.digest in found:
                continue
            found[row.digest] = _Row(row.id, row.digest, row.media_type, bytes(row.payload))
            queue.append(found[row.digest])
            if row.subject_digest is not None and row.subject_digest in found:
                referrers += 1
    return list(found.values()), referrers


def _link_blobs(
    connection: Connection, store: MetadataStore, target_id: int, manifest_ids: list[int]
) -> int:
    """Link the config and layers of the manifests into the target; how many were new."""
    referenced = select(ManifestReference.digest).where(
        ManifestReference.manifest_id.in_(manifest_ids), ManifestReference.kind != "child"
    )
    # Only blobs the store holds: a layer with foreign URLs was never pushed.
    held = select(Blob.digest, Blob.size).where(Blob.digest.in_(referenced))
    sizes = {digest: size for digest, size in connection.execute(held)}
    missing = set(sizes) - store._linked_blobs(connection, target_id, set(sizes))
    if missing:
        connection.execute(
            store._new_link,
            [{"repository_id": target_id, "digest": d} for d in sorted(missing)],
        )
        # Counted in the target's project, which may refuse them (QuotaExceeded).
        project = usage.project_of_repository(connection, target_id)
        usage.blobs_linked(connection, project, [(d, sizes[d]) for d in missing], enforce=True)
    return len(missing)


def _copy(connection: Connection, store: MetadataStore, target_id: int, row: _Row) -> bool:
    """The manifest row in the target; True if it was not there (or was deleted)."""
    existing = connection.execute(
        select(Manifest.id, Manifest.deleted_at).where(
            Manifest.repository_id == target_id, Manifest.digest == row.digest
        )
    ).first()
    if existing is None:
        parsed = oci_manifest.parse(row.payload, row.media_type)
        store._insert_manifest(connection, target_id, row.digest, parsed, row.payload)
        return True
    if existing.deleted_at is not None:
        store._undelete(connection, target_id, existing.id)
        return True
    return False
