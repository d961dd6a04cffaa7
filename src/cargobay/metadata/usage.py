"""Storage usage per project, kept current by the transactions that change it.

A project's `used_bytes` is the size of every blob linked into any of its repositories,
counted once however many repositories link it (`project_blobs.links` counts them), plus
the payloads of its manifests (deleted ones too, until garbage collection removes them:
they still take space). The counter moves in the same transaction as the links, so a
quota check on push is one conditional UPDATE of one row, whatever the registry's size.

Every change of `repository_blobs`, of `manifests` rows or of `blobs` rows must go through
here: `blobs_linked`, `blobs_unlinked`, `manifest_added`, and for garbage collection
`forget_blobs` and `forget_manifests`. `recount` rebuilds everything from the links if the
counters ever drift (a change made around these functions).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cargobay.metadata.errors import QuotaExceeded
from cargobay.metadata.models import (
    Blob,
    Manifest,
    Project,
    ProjectBlob,
    Repository,
    RepositoryBlob,
)

if TYPE_CHECKING:  # the store imports this module
    from cargobay.metadata.store import MetadataStore

#: The project of repositories whose name has no slash (`busybox`), as in auth.principal.
UNNAMESPACED_PROJECT = "library"


def project_name_of(repository: str) -> str:
    head, slash, _ = repository.partition("/")
    return head if slash else UNNAMESPACED_PROJECT


def in_project(project: str) -> Any:
    """The condition on `Repository.name` of the repositories of `project`."""
    condition = Repository.name.startswith(f"{project}/", autoescape=True)
    if project == UNNAMESPACED_PROJECT:
        condition = or_(condition, ~Repository.name.contains("/"))
    return condition


@dataclass(frozen=True, slots=True)
class ProjectUsage:
    project: str
    quota_bytes: int | None
    used_bytes: int
    blob_count: int  # distinct blobs counted
    blob_bytes: int
    manifest_count: int
    manifest_bytes: int


@dataclass(frozen=True, slots=True)
class RepositoryUsage:
    repository: str
    blob_count: int
    blob_bytes: int  # each blob linked into the repository once
    manifest_count: int
    manifest_bytes: int

    @property
    def used_bytes(self) -> int:
        return self.blob_bytes + self.manifest_bytes


@dataclass(frozen=True, slots=True)
class Recounted:
    project: str
    before: int
    after: int


_PROJECT_ID = select(Project.id).where(Project.name == bindparam("name"))
_ADD = (
    update(Project)
    .where(Project.id == bindparam("project_id"))
    .values(used_bytes=Project.used_bytes + bindparam("delta"))
)
# The whole quota check: the increment happens only if it stays within the quota.
_ADD_WITHIN_QUOTA = _ADD.where(
    or_(
        Project.quota_bytes.is_(None),
        bindparam("delta") <= 0,
        Project.used_bytes + bindparam("delta") <= Project.quota_bytes,
    )
)


def project_id(connection: Connection, repository: str) -> int | None:
    """The id of the project a repository is in (None: no such project, nothing counted)."""
    return connection.scalar(_PROJECT_ID, {"name": project_name_of(repository)})


def add_bytes(connection: Connection, project: int, delta: int, enforce: bool) -> None:
    """Move a project's counter; with `enforce`, refuse (QuotaExceeded) to pass its quota."""
    if delta == 0:
        return
    statement = _ADD_WITHIN_QUOTA if enforce else _ADD
    result = connection.execute(statement, {"project_id": project, "delta": delta})
    if result.rowcount == 0 and enforce:
        row = connection.execute(
            select(Project.name, Project.quota_bytes, Project.used_bytes).where(
                Project.id == project
            )
        ).one()
        raise QuotaExceeded(row.name, row.quota_bytes, row.used_bytes, delta)


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(connection: Connection, by_name: bool) -> Any:
    """Insert a link count of 1, or add 1 to it; returns the count and the project. Built
    once per dialect: building a statement costs more than running it on SQLite.

    `by_name`: the project is found by name in the same statement (one round trip, on the
    path of every blob push), else given by id."""
    key = (connection.dialect.name, "name" if by_name else "id")
    statement = _UPSERTS.get(key)
    if statement is None:
        dialect = postgresql if key[0] == "postgresql" else sqlite
        insert = dialect.insert(ProjectBlob)
        if by_name:
            insert = insert.from_select(
                ["project_id", "digest", "size", "links"],
                select(
                    Project.id,
                    bindparam("blob_digest"),
                    bindparam("blob_size"),
                    bindparam("one"),
                ).where(Project.name == bindparam("project")),
            )
        statement = insert.on_conflict_do_update(
            index_elements=[ProjectBlob.project_id, ProjectBlob.digest],
            set_={"links": ProjectBlob.links + 1},
        ).returning(ProjectBlob.links, ProjectBlob.project_id)
        _UPSERTS[key] = statement
    return statement


def blob_linked(connection: Connection, repository: str, digest: str, size: int) -> None:
    """A blob was newly linked into `repository`: count it in its project if it is new
    there, or raise QuotaExceeded (the caller's transaction then rolls the link back)."""
    parameters = {
        "project": project_name_of(repository),
        "blob_digest": digest,
        "blob_size": size,
        "one": 1,
    }
    row = connection.execute(_upsert(connection, by_name=True), parameters).first()
    if row is not None and row.links == 1:
        add_bytes(connection, row.project_id, size, enforce=True)


def blobs_linked(
    connection: Connection, project: int | None, blobs: Iterable[tuple[str, int]], enforce: bool
) -> None:
    """Blobs (digest, size) were newly linked into a repository of `project`: count the ones
    new to the project. Raises QuotaExceeded (with `enforce`) before anything is counted
    past the quota; the caller's transaction then rolls the links back."""
    if project is None:
        return
    statement = _upsert(connection, by_name=False)
    new_bytes = 0
    for digest, size in sorted(blobs):  # one lock order for every transaction
        values = {"project_id": project, "digest": digest, "size": size, "links": 1}
        if connection.execute(statement, values).first().links == 1:
            new_bytes += size
    add_bytes(connection, project, new_bytes, enforce)


def blobs_unlinked(connection: Connection, project: int | None, digests: Iterable[str]) -> None:
    """Blobs were unlinked from one repository of `project`: those no other repository of
    the project links any more stop counting."""
    if project is None:
        return
    freed = 0
    for digest in sorted(digests):
        row = connection.execute(
            update(ProjectBlob)
            .where(ProjectBlob.project_id == project, ProjectBlob.digest == digest)
            .values(links=ProjectBlob.links - 1)
            .returning(ProjectBlob.links, ProjectBlob.size)
        ).first()
        if row is not None and row.links <= 0:
            connection.execute(
                delete(ProjectBlob).where(
                    ProjectBlob.project_id == project, ProjectBlob.digest == digest
                )
            )
            freed += row.size
    add_bytes(connection, project, -freed, enforce=False)


def manifest_added(connection: Connection, project: int | None, size: int, enforce: bool) -> None:
    """A manifest row was stored in a repository of `project` (its payload counts)."""
    if project is not None:
        add_bytes(connection, project, size, enforce)


def forget_blobs(connection: Connection, digests: Collection[str]) -> dict[int, int]:
    """For garbage collection: these `blobs` rows are about to be deleted (with their links).
    Drop them from every project's blob list, in the transaction that deletes the rows, and
    return the bytes each project stops counting, for `uncount` to apply.

    The counters move in a later transaction of their own (`uncount`): a project's row is
    what every push of a new blob to it updates, and GC must not hold it while it waits on
    its own batch."""
    if not digests:
        return {}
    rows = connection.execute(
        select(ProjectBlob.project_id, func.sum(ProjectBlob.size).label("size"))
        .where(ProjectBlob.digest.in_(sorted(digests)))
        .group_by(ProjectBlob.project_id)
    ).all()
    connection.execute(delete(ProjectBlob).where(ProjectBlob.digest.in_(sorted(digests))))
    return {row.project_id: int(row.size) for row in rows}


def forget_manifests(connection: Connection, manifest_ids: Collection[int]) -> dict[int, int]:
    """For garbage collection: these `manifests` rows are about to be deleted. Return the
    payload bytes each project stops counting, for `uncount` to apply (as `forget_blobs`)."""
    if not manifest_ids:
        return {}
    rows = connection.execute(
        select(Repository.name, func.sum(Manifest.size).label("size"))
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(Manifest.id.in_(sorted(manifest_ids)))
        .group_by(Repository.name)
    ).all()
    by_project: dict[int, int] = {}
    for row in rows:
        project = connection.scalar(_PROJECT_ID, {"name": project_name_of(row.name)})
        if project is not None:
            by_project[project] = by_project.get(project, 0) + int(row.size)
    return by_project


def uncount(connection: Connection, amounts: dict[int, int]) -> int:
    """Take bytes off projects' counters (what `forget_*` returned); return the total."""
    for project, size in sorted(amounts.items()):  # one lock order for every transaction
        add_bytes(connection, project, -size, enforce=False)
    return sum(amounts.values())


def repository_removed(connection: Connection, repository_id: int, name: str) -> None:
    """A repository is about to be deleted with its links and manifests."""
    project = project_id(connection, name)
    if project is None:
        return
    digests = connection.scalars(
        select(RepositoryBlob.digest).where(RepositoryBlob.repository_id == repository_id)
    ).all()
    blobs_unlinked(connection, project, digests)
    payloads = connection.scalar(
        select(func.coalesce(func.sum(Manifest.size), 0)).where(
            Manifest.repository_id == repository_id
        )
    )
    add_bytes(connection, project, -int(payloads or 0), enforce=False)


# -- reads ---------------------------------------------------------------------------------


def counted(connection: Connection, project: str, digest: str) -> bool:
    """Whether a blob already counts in a project (then pushing it again costs nothing)."""
    query = (
        select(ProjectBlob.digest)
        .join(Project, Project.id == ProjectBlob.project_id)
        .where(Project.name == project, ProjectBlob.digest == digest)
    )
    return connection.scalar(query) is not None


def quota_of(connection: Connection, project: str) -> tuple[int | None, int] | None:
    """(quota_bytes, used_bytes) of a project; None if there is no such project."""
    row = connection.execute(
        select(Project.quota_bytes, Project.used_bytes).where(Project.name == project)
    ).first()
    return (row.quota_bytes, row.used_bytes) if row else None


def project_usage(connection: Connection, project: str) -> ProjectUsage | None:
    row = connection.execute(
        select(Project.id, Project.quota_bytes, Project.used_bytes).where(Project.name == project)
    ).first()
    if row is None:
        return None
    blobs = connection.execute(
        select(func.count(), func.coalesce(func.sum(ProjectBlob.size), 0)).where(
            ProjectBlob.project_id == row.id
        )
    ).one()
    manifests = connection.execute(
        select(func.count(), func.coalesce(func.sum(Manifest.size), 0))
        .select_from(Manifest)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(in_project(project))
    ).one()
    return ProjectUsage(
        project,
        row.quota_bytes,
        row.used_bytes,
        int(blobs[0]),
        int(blobs[1]),
        int(manifests[0]),
        int(manifests[1]),
    )


def repository_usage(connection: Connection, name: str) -> RepositoryUsage | None:
    repository = connection.scalar(select(Repository.id).where(Repository.name == name))
    if repository is None:
        return None
    blobs = connection.execute(
        select(func.count(), func.coalesce(func.sum(Blob.size), 0))
        .select_from(RepositoryBlob)
        .join(Blob, Blob.digest == RepositoryBlob.digest)
        .where(RepositoryBlob.repository_id == repository)
    ).one()
    manifests = connection.execute(
        select(func.count(), func.coalesce(func.sum(Manifest.size), 0)).where(
            Manifest.repository_id == repository
        )
    ).one()
    return RepositoryUsage(name, int(blobs[0]), int(blobs[1]), int(manifests[0]), int(manifests[1]))


# -- repair --------------------------------------------------------------------------------


def recount(connection: Connection, project: str | None = None) -> list[Recounted]:
    """Rebuild `project_blobs` and `used_bytes` of one project (or all) from the links and
    manifests; returns what changed. Run it in a write transaction."""
    query = select(Project.id, Project.name, Project.used_bytes).order_by(Project.name)
    if project is not None:
        query = query.where(Project.name == project)
    changes = []
    for row in connection.execute(query).all():
        after = _recount_one(connection, row.id, row.name)
        if after != row.used_bytes:
            changes.append(Recounted(row.name, row.used_bytes, after))
    return changes


def _recount_one(connection: Connection, project: int, name: str) -> int:
    links = connection.execute(
        select(RepositoryBlob.digest, Blob.size, func.count().label("links"))
        .select_from(RepositoryBlob)
        .join(Repository, Repository.id == RepositoryBlob.repository_id)
        .join(Blob, Blob.digest == RepositoryBlob.digest)
        .where(in_project(name))
        .group_by(RepositoryBlob.digest, Blob.size)
    ).all()
    connection.execute(delete(ProjectBlob).where(ProjectBlob.project_id == project))
    if links:
        connection.execute(
            ProjectBlob.__table__.insert(),
            [
                {"project_id": project, "digest": r.digest, "size": r.size, "links": r.links}
                for r in links
            ],
        )
    payloads = connection.scalar(
        select(func.coalesce(func.sum(Manifest.size), 0))
        .select_from(Manifest)
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(in_project(name))
    )
    used = sum(int(r.size) for r in links) + int(payloads or 0)
    connection.execute(update(Project).where(Project.id == project).values(used_bytes=used))
    return used


def project_of_repository(connection: Connection, repository_id: int) -> int | None:
    """The id of the project a repository (by id) is in."""
    name = connection.scalar(select(Repository.name).where(Repository.id == repository_id))
    return project_id(connection, name) if name is not None else None


class UsageStore:
    """The usage functions as transactions of a metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def check(self, repository: str, digest: str, size: int) -> None:
        """Raise QuotaExceeded if storing this blob in `repository` would pass its project's
        quota (a cheap look before the bytes arrive; the link transaction checks again)."""
        project = project_name_of(repository)
        with self.store.engine.connect() as connection:
            found = quota_of(connection, project)
            if found is None or found[0] is None:
                return
            quota, used = found
            if used + size > quota and not counted(connection, project, digest):
                raise QuotaExceeded(project, quota, used, size)

    def set_quota(self, project: str, quota_bytes: int | None) -> bool:
        with self.store._write() as connection:
            result = connection.execute(
                update(Project).where(Project.name == project).values(quota_bytes=quota_bytes)
            )
            return result.rowcount > 0

    def project_usage(self, project: str) -> ProjectUsage | None:
        with self.store.engine.connect() as connection:
            return project_usage(connection, project)

    def repository_usage(self, name: str) -> RepositoryUsage | None:
        with self.store.engine.connect() as connection:
            return repository_usage(connection, name)

    def recount(self, project: str | None = None) -> list[Recounted]:
        with self.store._write() as connection:
            return recount(connection, project)
