"""Queries over the metadata schema. Each public method is one transaction.

Methods are synchronous (SQLAlchemy Core on a pooled engine); the registry service runs them
in worker threads so that a slow database never stalls the event loop. Every query that a
request makes is answered from an index, so its cost does not grow with the registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cargobay.metadata import history, immutability, search, usage
from cargobay.metadata.db import Writes, write_gate
from cargobay.metadata.errors import (
    ManifestNotFound,
    ManifestReclaimed,
    ManifestReferencesMissing,
    TagUnknown,
)
from cargobay.metadata.history import Operation, record
from cargobay.metadata.labels import labels_of
from cargobay.metadata.models import (
    Blob,
    Manifest,
    ManifestReference,
    Repository,
    RepositoryBlob,
    Tag,
    Upload,
    as_utc,
    as_utc_or_none,
    utcnow,
)
from cargobay.metadata.versions import float_tags
from cargobay.oci import manifest as oci_manifest
from cargobay.oci.names import project_of

# The statements of the hot paths, built once: building a statement and its cache key
# cost more than running it on SQLite.
_REPOSITORY_ID = select(Repository.id).where(Repository.name == bindparam("name"))
_MANIFEST_ROW = select(Manifest.id, Manifest.deleted_at).where(
    Manifest.repository_id == bindparam("repository_id"), Manifest.digest == bindparam("digest")
)
_CURRENT_TAG = (
    select(Tag.manifest_id, Manifest.digest)
    .join(Manifest, Manifest.id == Tag.manifest_id)
    .where(Tag.repository_id == bindparam("repository_id"), Tag.name == bindparam("tag"))
)
_BLOB_SIZE = (
    select(Blob.size)
    .join(RepositoryBlob, RepositoryBlob.digest == Blob.digest)
    .join(Repository, Repository.id == RepositoryBlob.repository_id)
    .where(Repository.name == bindparam("name"), Blob.digest == bindparam("digest"))
)
# On PostgreSQL a push holds the rows it relies on (FOR SHARE) until it commits, so that
# garbage collection, which deletes a row only under FOR UPDATE after checking it again, either
# finishes first (the push then sees the row gone) or waits. SQLite has one writer: no clause.
_MANIFEST_ROW_HELD = _MANIFEST_ROW.with_for_update(read=True)
_MANIFEST_COLUMNS = (Manifest.digest, Manifest.media_type, Manifest.payload)
_MANIFEST_BY_DIGEST = (
    select(*_MANIFEST_COLUMNS)
    .join(Repository, Repository.id == Manifest.repository_id)
    .where(
        Repository.name == bindparam("name"),
        Manifest.digest == bindparam("reference"),
        Manifest.deleted_at.is_(None),
    )
)
_MANIFEST_BY_TAG = (
    select(*_MANIFEST_COLUMNS)
    .join(Tag, Tag.manifest_id == Manifest.id)
    .join(Repository, Repository.id == Tag.repository_id)
    .where(Repository.name == bindparam("name"), Tag.name == bindparam("reference"))
)
_NEW_UPLOAD = insert(Upload)
_TOUCH_UPLOAD = (
    update(Upload).where(Upload.id == bindparam("upload_id")).values(updated_at=bindparam("now"))
)
_END_UPLOAD = delete(Upload).where(Upload.id == bindparam("upload_id"))
_UPLOAD_IN_REPOSITORY = (
    select(Upload.id)
    .join(Repository, Repository.id == Upload.repository_id)
    .where(Upload.id == bindparam("upload_id"), Repository.name == bindparam("name"))
)


@dataclass(frozen=True, slots=True)
class ManifestRecord:
    digest: str
    media_type: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class TagChange:
    tag: str
    old_digest: str | None  # None when the tag is new


@dataclass(frozen=True, slots=True)
class ManifestPut:
    created: bool
    tag_changes: tuple[TagChange, ...]
    floated: tuple[TagChange, ...] = ()  # floating tags (`1.4`, `latest`) the push moved


@dataclass(frozen=True, slots=True)
class TagRestore:
    """One tag a restore changed (or would change): from where to where (None: absent)."""

    tag: str
    old_digest: str | None
    new_digest: str | None


@dataclass(frozen=True, slots=True)
class Restore:
    changes: tuple[TagRestore, ...]
    undeleted: tuple[str, ...]  # deleted manifests that came back for a restored tag


# What a restore wants, found in its transaction: ({tag: digest, None to delete}, the one tag
# asked about or None).
_Targets = Callable[[Connection, int], tuple[dict[str, str | None], str | None]]


class _DryRun(Exception):
    """Carries a dry run's answer out of its transaction, which it rolls back."""

    def __init__(self, result: Restore) -> None:
        self.result = result


@dataclass(frozen=True, slots=True)
class Referrer:
    digest: str
    media_type: str
    size: int
    artifact_type: str | None
    annotations: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    """A repository as the management API lists it."""

    name: str
    tag_count: int
    artifact_count: int
    created_at: datetime
    last_pushed_at: datetime | None  # the newest manifest push or tag move


@dataclass(frozen=True, slots=True)
class Artifact:
    """A manifest of a repository as the management API lists it."""

    id: int
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    pushed_at: datetime
    tags: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)
    pull_count: int = 0
    last_pulled_at: datetime | None = None


# The management API's repository listing: counts and last push, one correlated subquery each
# (answered from the (repository_id, ...) indexes), so a page costs the same in any registry.
_SUMMARY = select(
    Repository.name,
    select(func.count())
    .where(Tag.repository_id == Repository.id)
    .scalar_subquery()
    .label("tag_count"),
    select(func.count())
    .where(Manifest.repository_id == Repository.id, Manifest.deleted_at.is_(None))
    .scalar_subquery()
    .label("artifact_count"),
    Repository.created_at,
    select(func.max(Manifest.created_at))
    .where(Manifest.repository_id == Repository.id, Manifest.deleted_at.is_(None))
    .scalar_subquery()
    .label("last_manifest"),
    select(func.max(Tag.updated_at))
    .where(Tag.repository_id == Repository.id)
    .scalar_subquery()
    .label("last_tag"),
)
_ARTIFACTS = select(
    Manifest.id,
    Manifest.digest,
    Manifest.media_type,
    Manifest.artifact_type,
    Manifest.size,
    Manifest.created_at,
    Manifest.pull_count,
    Manifest.last_pulled_at,
)


class MetadataStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Writes take the gate, then a connection SQLite locks for writing up front.
        self.gate = write_gate(engine)
        self._write = Writes(engine, self.gate)
        self._dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        insert_ignore = self._dialect.insert  # with on_conflict_do_nothing below
        self._new_repository = insert_ignore(Repository).on_conflict_do_nothing()
        new_blob = insert_ignore(Blob)
        # A blob pushed again is young again: its row's time is what garbage collection's
        # grace period counts from, and the update takes the row lock GC deletes under.
        self._new_blob = new_blob.on_conflict_do_update(
            index_elements=[Blob.digest], set_={"created_at": new_blob.excluded.created_at}
        )
        self._holds_rows = self._dialect is postgresql
        self._new_link = insert_ignore(RepositoryBlob).on_conflict_do_nothing()
        self._new_manifest = insert_ignore(Manifest).on_conflict_do_nothing()
        self._new_references = insert_ignore(ManifestReference).on_conflict_do_nothing()
        upsert = insert_ignore(Tag)
        self._point_tag_statement = upsert.on_conflict_do_update(
            index_elements=[Tag.repository_id, Tag.name],
            set_={
                "manifest_id": upsert.excluded.manifest_id,
                "updated_at": upsert.excluded.updated_at,
            },
        )

    # -- helpers ---------------------------------------------------------------------------

    def _ensure_repository(self, connection: Connection, name: str) -> int:
        repository_id = self._repository_id(connection, name)
        if repository_id is None:
            connection.execute(self._new_repository, {"name": name, "created_at": utcnow()})
            repository_id = self._repository_id(connection, name)
        return repository_id

    @staticmethod
    def _repository_id(connection: Connection, name: str) -> int | None:
        return connection.scalar(_REPOSITORY_ID, {"name": name})

    def ping(self) -> None:
        """Raise unless the database answers."""
        with self.engine.connect() as connection:
            connection.execute(select(1))

    # -- repositories ----------------------------------------------------------------------

    def list_repositories(
        self,
        limit: int,
        last: str | None,
        prefixes: Sequence[str] | None = None,
        unnamespaced: bool = False,
    ) -> list[str]:
        """Names in byte order; with `prefixes`, only names that start with one of them
        (and, if `unnamespaced`, names without a slash)."""
        query = select(Repository.name).order_by(Repository.name).limit(limit)
        if last is not None:
            query = query.where(Repository.name > last)
        if prefixes is not None:
            conditions = [
                Repository.name.startswith(prefix, autoescape=True) for prefix in prefixes
            ]
            if unnamespaced:
                conditions.append(~Repository.name.contains("/"))
            query = query.where(or_(*conditions))
        with self.engine.connect() as connection:
            return list(connection.scalars(query))

    # -- blobs -----------------------------------------------------------------------------

    def blob_size(self, name: str, digest: str) -> int | None:
        """The size of a blob linked into a repository, or None if it is not visible there."""
        with self.engine.connect() as connection:
            return connection.scalar(_BLOB_SIZE, {"name": name, "digest": digest})

    def blob_holders(self, digest: str, limit: int) -> list[tuple[str, int]]:
        """(repository, size) of up to `limit` repositories a blob is linked into."""
        query = (
            select(Repository.name, Blob.size)
            .join(RepositoryBlob, RepositoryBlob.repository_id == Repository.id)
            .join(Blob, Blob.digest == RepositoryBlob.digest)
            .where(RepositoryBlob.digest == digest)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [(row.name, row.size) for row in connection.execute(query)]

    def link_blob(
        self,
        name: str,
        digest: str,
        size: int,
        upload_id: str | None = None,
        ensure_bytes: Callable[[], object] | None = None,
    ) -> None:
        """Record a stored blob and make it visible in a repository.

        `upload_id` names the upload session the blob came from, which ends in the same
        transaction. `ensure_bytes` puts the bytes in place (again, if garbage collection
        removed them since they were placed) while this transaction holds the blob's row.
        """
        with self._write() as connection:
            if upload_id is not None:
                connection.execute(_END_UPLOAD, {"upload_id": upload_id})
            repository_id = self._ensure_repository(connection, name)
            now = utcnow()
            connection.execute(self._new_blob, {"digest": digest, "size": size, "created_at": now})
            if ensure_bytes is not None:
                ensure_bytes()
            linked = connection.execute(
                self._new_link,
                {"repository_id": repository_id, "digest": digest, "created_at": now},
            )
            if linked.rowcount:  # new in this repository: maybe new in its project too
                usage.blob_linked(connection, name, digest, size)

    def mount_blob(self, name: str, digest: str, present: Callable[[], bool]) -> int | None:
        """Link a blob the registry holds into a repository; its size, or None if it is gone.

        The blob's row is touched first (its lock, and a fresh grace period), then `present`
        checks the bytes: garbage collection cannot remove them from then on.
        """
        with self._write() as connection:
            now = utcnow()
            touched = connection.execute(
                update(Blob).where(Blob.digest == digest).values(created_at=now)
            )
            if touched.rowcount == 0 or not present():
                return None
            size = connection.scalar(select(Blob.size).where(Blob.digest == digest))
            repository_id = self._ensure_repository(connection, name)
            linked = connection.execute(
                self._new_link,
                {"repository_id": repository_id, "digest": digest, "created_at": now},
            )
            if linked.rowcount:  # new in this repository: maybe new in its project too
                usage.blob_linked(connection, name, digest, size)
            return size

    def unlink_blob(self, name: str, digest: str) -> bool:
        with self._write() as connection:
            repository_id = self._repository_id(connection, name)
            if repository_id is None:
                return False
            result = connection.execute(
                delete(RepositoryBlob).where(
                    RepositoryBlob.repository_id == repository_id, RepositoryBlob.digest == digest
                )
            )
            if result.rowcount > 0:
                usage.blobs_unlinked(connection, usage.project_id(connection, name), [digest])
            return result.rowcount > 0

    # -- uploads ---------------------------------------------------------------------------

    def create_upload(self, upload_id: str, name: str) -> None:
        now = utcnow()
        with self._write() as connection:
            repository_id = self._ensure_repository(connection, name)
            connection.execute(
                _NEW_UPLOAD,
                {
                    "id": upload_id,
                    "repository_id": repository_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )

    def upload_belongs(self, upload_id: str, name: str) -> bool:
        with self.engine.connect() as connection:
            parameters = {"upload_id": upload_id, "name": name}
            return connection.scalar(_UPLOAD_IN_REPOSITORY, parameters) is not None

    def touch_upload(self, upload_id: str) -> None:
        with self._write() as connection:
            connection.execute(_TOUCH_UPLOAD, {"upload_id": upload_id, "now": utcnow()})

    def delete_upload(self, upload_id: str) -> None:
        with self._write() as connection:
            connection.execute(_END_UPLOAD, {"upload_id": upload_id})

    def stale_uploads(self, before: datetime, limit: int = 500) -> list[str]:
        query = select(Upload.id).where(Upload.updated_at < before).limit(limit)
        with self.engine.connect() as connection:
            return list(connection.scalars(query))

    # -- manifests -------------------------------------------------------------------------

    def get_manifest(self, name: str, reference: str, by_digest: bool) -> ManifestRecord | None:
        query = _MANIFEST_BY_DIGEST if by_digest else _MANIFEST_BY_TAG
        with self.engine.connect() as connection:
            row = connection.execute(query, {"name": name, "reference": reference}).first()
        return ManifestRecord(row.digest, row.media_type, bytes(row.payload)) if row else None

    def put_manifest(
        self,
        name: str,
        digest: str,
        manifest: oci_manifest.Manifest,
        payload: bytes,
        tags: Sequence[str],
        sparse_indexes: bool,
        actor: str | None = None,
        operation: Operation = Operation.PUSH,
    ) -> ManifestPut:
        """Store a manifest and point tags at it, after checking what it refers to exists."""
        with self._write() as connection:
            repository_id = self._ensure_repository(connection, name)
            row = connection.execute(
                _MANIFEST_ROW_HELD if self._holds_rows else _MANIFEST_ROW,
                {"repository_id": repository_id, "digest": digest},
            ).first()
            created = row is None or row.deleted_at is not None
            if row is None:
                # A manifest already in the repository was checked when it was first pushed.
                self._check_references(connection, repository_id, manifest, sparse_indexes)
                manifest_id = self._insert_manifest(
                    connection, repository_id, digest, manifest, payload
                )
            else:
                manifest_id = row.id
                if row.deleted_at is not None:  # pushed again after a delete: back it comes
                    self._undelete(connection, repository_id, manifest_id)
                if not tags:
                    # Pushed again by digest (an index's child before its index, say): no tag
                    # keeps it, so it gets a fresh grace period from garbage collection.
                    connection.execute(
                        update(Manifest)
                        .where(Manifest.id == manifest_id)
                        .values(created_at=utcnow())
                    )
            changes = tuple(
                change
                for tag in tags
                if (
                    change := self._point_tag(
                        connection, repository_id, tag, manifest_id, digest, operation, actor
                    )
                )
            )
            floated = float_tags(
                connection, repository_id, tags, manifest_id, digest, actor, self._point_tag
            )
        return ManifestPut(created, changes, floated)

    @staticmethod
    def _manifest_id(connection: Connection, repository_id: int, digest: str) -> int | None:
        row = connection.execute(
            _MANIFEST_ROW, {"repository_id": repository_id, "digest": digest}
        ).first()
        return row.id if row else None

    @staticmethod
    def _undelete(connection: Connection, repository_id: int, manifest_id: int) -> None:
        """Make a deleted manifest visible again, with its blobs linked back into the
        repository (a blob DELETE since may have unlinked them; the bytes are kept while any
        manifest row refers to them)."""
        connection.execute(
            update(Manifest).where(Manifest.id == manifest_id).values(deleted_at=None)
        )
        digests = select(ManifestReference.digest).where(
            ManifestReference.manifest_id == manifest_id, ManifestReference.kind != "child"
        )
        present = select(Blob.digest, Blob.size).where(
            Blob.digest.in_(digests),
            ~select(RepositoryBlob.digest)
            .where(
                RepositoryBlob.repository_id == repository_id,
                RepositoryBlob.digest == Blob.digest,
            )
            .exists(),
        )
        missing = [(row.digest, row.size) for row in connection.execute(present)]
        if missing:
            now = utcnow()
            connection.execute(
                insert(RepositoryBlob),
                [
                    {"repository_id": repository_id, "digest": d, "created_at": now}
                    for d, _ in missing
                ],
            )
            project = usage.project_of_repository(connection, repository_id)
            usage.blobs_linked(connection, project, missing, enforce=True)

    def _check_references(
        self,
        connection: Connection,
        repository_id: int,
        manifest: oci_manifest.Manifest,
        sparse_indexes: bool,
    ) -> None:
        blobs = {d.digest for d in oci_manifest.required_blobs(manifest)}
        missing = blobs - self._linked_blobs(connection, repository_id, blobs)
        if manifest.children and not sparse_indexes:
            children = {d.digest for d in manifest.children}
            missing |= children - self._present_manifests(connection, repository_id, children)
        if missing:
            raise ManifestReferencesMissing(sorted(missing))

    def _linked_blobs(
        self, connection: Connection, repository_id: int, digests: set[str]
    ) -> set[str]:
        if not digests:
            return set()
        if self._holds_rows:
            # Hold the blobs' rows (in one order, as GC locks them) before reading the links:
            # a blob GC deleted while this waited is then missing from the second query too.
            held = (
                select(Blob.digest)
                .where(Blob.digest.in_(sorted(digests)))
                .order_by(Blob.digest)
                .with_for_update(read=True)
            )
            digests = set(connection.scalars(held))
            if not digests:
                return set()
        query = select(RepositoryBlob.digest).where(
            RepositoryBlob.repository_id == repository_id, RepositoryBlob.digest.in_(digests)
        )
        return set(connection.scalars(query))

    def _present_manifests(
        self, connection: Connection, repository_id: int, digests: set[str]
    ) -> set[str]:
        query = select(Manifest.digest).where(
            Manifest.repository_id == repository_id,
            Manifest.digest.in_(digests),
            Manifest.deleted_at.is_(None),
        )
        if self._holds_rows:  # an index holds its children (in id order, as GC locks them)
            query = query.order_by(Manifest.id).with_for_update(read=True)
        return set(connection.scalars(query))

    def _insert_manifest(
        self,
        connection: Connection,
        repository_id: int,
        digest: str,
        manifest: oci_manifest.Manifest,
        payload: bytes,
    ) -> int:
        values = {
            "repository_id": repository_id,
            "digest": digest,
            "media_type": manifest.media_type,
            "artifact_type": manifest.effective_artifact_type,
            "size": len(payload),
            "payload": payload,
            "subject_digest": manifest.subject.digest if manifest.subject else None,
            "created_at": utcnow(),
        }
        # A concurrent push of the same manifest may win the insert; then use its row.
        inserted = connection.execute(self._new_manifest, values).rowcount
        manifest_id = self._manifest_id(connection, repository_id, digest)
        if inserted:
            project = usage.project_of_repository(connection, repository_id)
            usage.manifest_added(connection, project, len(payload), enforce=True)
            search.record_annotations(connection, manifest_id, manifest.annotations)
        references = _references(manifest)
        if references:
            connection.execute(
                self._new_references,
                [
                    {"manifest_id": manifest_id, "position": i, "kind": kind, "digest": d}
                    for i, (kind, d) in enumerate(references)
                ],
            )
        return manifest_id

    def _point_tag(
        self,
        connection: Connection,
        repository_id: int,
        tag: str,
        manifest_id: int,
        digest: str,
        operation: Operation,
        actor: str | None,
    ) -> TagChange | None:
        current = connection.execute(
            _CURRENT_TAG, {"repository_id": repository_id, "tag": tag}
        ).first()
        if current is not None and current.manifest_id == manifest_id:
            return None
        if current is not None:  # a move: immutability rules may forbid it (creation never)
            self._guard(connection, repository_id, [tag])
        connection.execute(
            self._point_tag_statement,
            {
                "repository_id": repository_id,
                "name": tag,
                "manifest_id": manifest_id,
                "updated_at": utcnow(),
            },
        )
        old_digest = current.digest if current else None
        record(connection, repository_id, tag, old_digest, digest, operation, actor)
        return TagChange(tag, old_digest)

    @staticmethod
    def _guard(connection: Connection, repository_id: int, tags: Sequence[str]) -> None:
        """Raise TagImmutable if a rule protects one of `tags`, which would move or go."""
        name = connection.scalar(select(Repository.name).where(Repository.id == repository_id))
        immutability.guard(connection, name, tags)

    def delete_manifest(
        self,
        name: str,
        digest: str,
        actor: str | None = None,
        operation: Operation = Operation.DELETE,
        *,
        only_untagged: bool = False,
    ) -> list[str] | None:
        """Delete a manifest and its tags; return the tags it had, or None if it was absent
        (or, with `only_untagged`, tagged: retention must not delete a tag pushed meanwhile).

        The row stays, marked deleted, so that history can restore it; garbage collection
        removes it once the history window has passed.
        """
        with self._write() as connection:
            repository_id = self._repository_id(connection, name)
            if repository_id is None:
                return None
            row = connection.execute(
                _MANIFEST_ROW, {"repository_id": repository_id, "digest": digest}
            ).first()
            if row is None or row.deleted_at is not None:
                return None
            tags = list(
                connection.scalars(
                    select(Tag.name).where(Tag.manifest_id == row.id).order_by(Tag.name)
                )
            )
            if only_untagged and tags:
                return None
            immutability.guard(connection, name, tags)
            connection.execute(delete(Tag).where(Tag.manifest_id == row.id))
            for tag in tags:
                record(connection, repository_id, tag, digest, None, operation, actor)
            connection.execute(
                update(Manifest).where(Manifest.id == row.id).values(deleted_at=utcnow())
            )
            return tags

    def delete_tag(
        self,
        name: str,
        tag: str,
        actor: str | None = None,
        operation: Operation = Operation.DELETE,
        *,
        expected_digest: str | None = None,
    ) -> str | None:
        """Delete only a tag; return the digest it pointed at, or None if it was absent (or,
        with `expected_digest`, points elsewhere: it moved since the caller looked)."""
        with self._write() as connection:
            row = connection.execute(
                select(Tag.repository_id, Manifest.digest)
                .join(Repository, Repository.id == Tag.repository_id)
                .join(Manifest, Manifest.id == Tag.manifest_id)
                .where(Repository.name == name, Tag.name == tag)
            ).first()
            if row is None or expected_digest not in (None, row.digest):
                return None
            immutability.guard(connection, name, [tag])
            connection.execute(
                delete(Tag).where(Tag.repository_id == row.repository_id, Tag.name == tag)
            )
            record(connection, row.repository_id, tag, row.digest, None, operation, actor)
            return row.digest

    # -- restores from history -------------------------------------------------------------

    def restore_tag(
        self, name: str, tag: str, digest: str, actor: str | None, dry_run: bool = False
    ) -> Restore | None:
        """Point `tag` back at `digest` (a manifest of the repository, even a deleted one,
        which comes back). None if the repository does not exist."""
        return self._restoring(name, dry_run, lambda c, r: ({tag: digest}, tag), actor)

    def rollback(
        self,
        name: str,
        at: datetime,
        actor: str | None,
        tag: str | None = None,
        dry_run: bool = False,
    ) -> Restore | None:
        """Put every tag (or only `tag`) back where it was at `at`, in one transaction: tags
        that did not exist then are deleted. None if the repository does not exist."""
        return self._restoring(
            name, dry_run, lambda c, r: (history.state_at(c, r, at, tag), tag), actor
        )

    def _restoring(
        self,
        name: str,
        dry_run: bool,
        targets: _Targets,
        actor: str | None,
    ) -> Restore | None:
        try:
            with self._write() as connection:
                repository_id = self._repository_id(connection, name)
                if repository_id is None:
                    return None
                wanted, tag = targets(connection, repository_id)
                if tag is not None and not history.known_tag(connection, repository_id, tag):
                    raise TagUnknown(name, tag)
                result = self._restore(connection, repository_id, name, wanted, actor)
                if dry_run:
                    raise _DryRun(result)  # every check ran; now undo it all
                return result
        except _DryRun as dry:
            return dry.result

    def _restore(
        self,
        connection: Connection,
        repository_id: int,
        name: str,
        targets: dict[str, str | None],
        actor: str | None,
    ) -> Restore:
        """Point each tag at its target through the push path (`_point_tag`: immutability
        and history apply), delete those whose target is None; a rollback each."""
        changes: list[TagRestore] = []
        undeleted: list[str] = []
        for tag, digest in sorted(targets.items()):
            current = connection.execute(
                _CURRENT_TAG, {"repository_id": repository_id, "tag": tag}
            ).first()
            old_digest = current.digest if current else None
            if digest == old_digest:
                continue
            if digest is None:
                self._guard(connection, repository_id, [tag])
                connection.execute(
                    delete(Tag).where(Tag.repository_id == repository_id, Tag.name == tag)
                )
                record(connection, repository_id, tag, old_digest, None, Operation.ROLLBACK, actor)
            else:
                manifest_id = self._restorable(connection, repository_id, name, digest, undeleted)
                self._point_tag(
                    connection, repository_id, tag, manifest_id, digest, Operation.ROLLBACK, actor
                )
            changes.append(TagRestore(tag, old_digest, digest))
        return Restore(tuple(changes), tuple(undeleted))

    def _restorable(
        self,
        connection: Connection,
        repository_id: int,
        name: str,
        digest: str,
        undeleted: list[str],
    ) -> int:
        """The id of the manifest to restore, undeleted (with its children) if it was.

        On PostgreSQL the rows are held (FOR SHARE) as a push holds them, so a garbage
        collection at the window's edge either removed them before (ManifestReclaimed) or
        waits until the restore has committed.
        """
        row = connection.execute(
            _MANIFEST_ROW_HELD if self._holds_rows else _MANIFEST_ROW,
            {"repository_id": repository_id, "digest": digest},
        ).first()
        if row is None:
            if history.pointed_at(connection, repository_id, digest):
                raise ManifestReclaimed(name, digest)
            raise ManifestNotFound(name, digest)
        pending = [(row.id, digest, row.deleted_at)]
        while pending:  # an index comes back with the children it lists
            manifest_id, manifest_digest, deleted_at = pending.pop()
            if deleted_at is None:
                continue
            self._undelete(connection, repository_id, manifest_id)
            undeleted.append(manifest_digest)
            children = (
                select(Manifest.id, Manifest.digest, Manifest.deleted_at)
                .join(ManifestReference, ManifestReference.digest == Manifest.digest)
                .where(
                    ManifestReference.manifest_id == manifest_id,
                    ManifestReference.kind == "child",
                    Manifest.repository_id == repository_id,
                )
                .order_by(Manifest.id)
            )
            if self._holds_rows:
                children = children.with_for_update(read=True, of=Manifest)
            pending.extend((r.id, r.digest, r.deleted_at) for r in connection.execute(children))
        return row.id

    # -- listings --------------------------------------------------------------------------

    def list_tags(self, name: str, limit: int | None, last: str | None) -> list[str] | None:
        """Tags in lexical order after `last`; None if the repository does not exist."""
        with self.engine.connect() as connection:
            repository_id = self._repository_id(connection, name)
            if repository_id is None:
                return None
            query = select(Tag.name).where(Tag.repository_id == repository_id).order_by(Tag.name)
            if last is not None:
                query = query.where(Tag.name > last)
            if limit is not None:
                query = query.limit(limit)
            return list(connection.scalars(query))

    def referrers(self, name: str, subject: str, artifact_type: str | None) -> list[Referrer]:
        query = (
            select(
                Manifest.digest,
                Manifest.media_type,
                Manifest.size,
                Manifest.artifact_type,
                Manifest.payload,
            )
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(
                Repository.name == name,
                Manifest.subject_digest == subject,
                Manifest.deleted_at.is_(None),
            )
            .order_by(Manifest.created_at, Manifest.digest)
        )
        if artifact_type is not None:
            query = query.where(Manifest.artifact_type == artifact_type)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            Referrer(
                row.digest,
                row.media_type,
                row.size,
                row.artifact_type,
                _payload_annotations(bytes(row.payload)),
            )
            for row in rows
        ]

    # -- the management API ----------------------------------------------------------------

    def project_repositories(
        self,
        project: str,
        unnamespaced: bool,
        limit: int,
        after: str | None,
        q: str | None,
    ) -> list[RepositorySummary]:
        """The repositories of a project (`project/...`, and names without a slash if
        `unnamespaced`) in byte order after `after`, whose name contains `q`."""
        in_project = Repository.name.startswith(f"{project}/", autoescape=True)
        if unnamespaced:
            in_project = or_(in_project, ~Repository.name.contains("/"))
        query = _SUMMARY.where(in_project).order_by(Repository.name).limit(limit)
        if after is not None:
            query = query.where(Repository.name > after)
        if q:
            query = query.where(Repository.name.contains(q, autoescape=True))
        with self.engine.connect() as connection:
            return [_summary(row) for row in connection.execute(query)]

    def repository_summary(self, name: str) -> RepositorySummary | None:
        with self.engine.connect() as connection:
            row = connection.execute(_SUMMARY.where(Repository.name == name)).first()
        return _summary(row) if row else None

    def artifacts(
        self, name: str, limit: int, after: int | None, tagged: str | None = None
    ) -> list[Artifact] | None:
        """A repository's manifests, newest first (by id, below `after`); only those with a
        tag containing `tagged` if given. None if the repository does not exist."""
        with self.engine.connect() as connection:
            repository_id = self._repository_id(connection, name)
            if repository_id is None:
                return None
            query = (
                _ARTIFACTS.where(
                    Manifest.repository_id == repository_id, Manifest.deleted_at.is_(None)
                )
                .order_by(Manifest.id.desc())
                .limit(limit)
            )
            if after is not None:
                query = query.where(Manifest.id < after)
            if tagged:
                query = query.where(
                    Manifest.id.in_(
                        select(Tag.manifest_id).where(
                            Tag.repository_id == repository_id,
                            Tag.name.contains(tagged, autoescape=True),
                        )
                    )
                )
            rows = connection.execute(query).all()
            return self._with_tags(connection, rows)

    def artifact(self, name: str, digest: str) -> Artifact | None:
        query = _ARTIFACTS.join(Repository, Repository.id == Manifest.repository_id).where(
            Repository.name == name, Manifest.digest == digest, Manifest.deleted_at.is_(None)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
            found = self._with_tags(connection, rows)
        return found[0] if found else None

    @staticmethod
    def _with_tags(connection: Connection, rows: Sequence[Any]) -> list[Artifact]:
        tags: dict[int, list[str]] = {}
        if rows:
            query = (
                select(Tag.manifest_id, Tag.name)
                .where(Tag.manifest_id.in_([row.id for row in rows]))
                .order_by(Tag.name)
            )
            for manifest_id, tag in connection.execute(query):
                tags.setdefault(manifest_id, []).append(tag)
        labels = labels_of(connection, [row.id for row in rows])
        return [
            Artifact(
                row.id,
                row.digest,
                row.media_type,
                row.artifact_type,
                row.size,
                as_utc(row.created_at),
                tuple(tags.get(row.id, ())),
                labels.get(row.id, {}),
                row.pull_count,
                as_utc_or_none(row.last_pulled_at),
            )
            for row in rows
        ]

    def delete_repository(self, name: str) -> bool:
        """Delete a repository with its manifests, tags, blob links and uploads (by cascade).

        Refused (TagImmutable) while an immutability rule protects one of its tags.
        """
        with self._write() as connection:
            repository_id = self._repository_id(connection, name)
            if repository_id is None:
                return False
            if immutability.rules_of(connection, project_of(name)):
                tags = connection.scalars(
                    select(Tag.name).where(Tag.repository_id == repository_id)
                )
                immutability.guard(connection, name, list(tags))
            usage.repository_removed(connection, repository_id, name)
            result = connection.execute(delete(Repository).where(Repository.id == repository_id))
            return result.rowcount > 0


def _summary(row: Any) -> RepositorySummary:
    pushes = [as_utc(moment) for moment in (row.last_manifest, row.last_tag) if moment]
    return RepositorySummary(
        row.name,
        row.tag_count,
        row.artifact_count,
        as_utc(row.created_at),
        max(pushes) if pushes else None,
    )


def _references(manifest: oci_manifest.Manifest) -> list[tuple[str, str]]:
    references: list[tuple[str, str]] = []
    if manifest.config:
        references.append(("config", manifest.config.digest))
    references.extend(("layer", layer.digest) for layer in manifest.layers)
    references.extend(("child", child.digest) for child in manifest.children)
    return references


def _payload_annotations(payload: bytes) -> dict[str, str] | None:
    annotations = json.loads(payload).get("annotations")
    return annotations if isinstance(annotations, dict) and annotations else None
