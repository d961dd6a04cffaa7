"""Queries of semantic versions: a repository's tags with their digests, its floating-tag
setting, and the floating moves a push makes inside its own transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, bindparam, select

from cargobay.metadata.errors import MetadataError
from cargobay.metadata.history import Operation
from cargobay.metadata.models import Manifest, Repository, RepositorySettings, Tag, utcnow
from cargobay.oci import semver

if TYPE_CHECKING:
    from cargobay.metadata.store import MetadataStore, TagChange

logger = logging.getLogger("cargobay.metadata")


@dataclass(frozen=True, slots=True)
class FloatingSettings:
    floating_tags: bool = False
    float_prereleases: bool = False


OFF = FloatingSettings()

# The one lookup a push of a semver tag makes when the repository never turned floating on:
# a primary-key read that finds nothing.
_SETTINGS = select(RepositorySettings.floating_tags, RepositorySettings.float_prereleases).where(
    RepositorySettings.repository_id == bindparam("repository_id")
)
_TAG_NAMES = select(Tag.name).where(Tag.repository_id == bindparam("repository_id"))
_TAG_DIGESTS = (
    select(Tag.name, Manifest.digest)
    .join(Manifest, Manifest.id == Tag.manifest_id)
    .join(Repository, Repository.id == Tag.repository_id)
    .where(Repository.name == bindparam("name"))
)

#: `MetadataStore._point_tag`: (connection, repository_id, tag, manifest_id, digest,
#: operation, actor) -> the change made, or None if the tag pointed there already.
PointTag = Callable[..., "TagChange | None"]


def settings_of(connection: Connection, repository_id: int) -> FloatingSettings:
    row = connection.execute(_SETTINGS, {"repository_id": repository_id}).first()
    return FloatingSettings(row.floating_tags, row.float_prereleases) if row else OFF


def tag_digests(connection: Connection, name: str) -> list[tuple[str, str]]:
    """(tag, digest) of every tag of a repository, in no particular order."""
    return [(row.name, row.digest) for row in connection.execute(_TAG_DIGESTS, {"name": name})]


def save_settings(connection: Connection, repository_id: int, settings: FloatingSettings) -> None:
    values = {
        "floating_tags": settings.floating_tags,
        "float_prereleases": settings.float_prereleases,
        "updated_at": utcnow(),
    }
    table = RepositorySettings.__table__
    updated = connection.execute(
        table.update().where(table.c.repository_id == repository_id).values(values)
    )
    if updated.rowcount == 0:
        connection.execute(table.insert().values(repository_id=repository_id, **values))


def float_tags(
    connection: Connection,
    repository_id: int,
    pushed: Sequence[str],
    manifest_id: int,
    digest: str,
    actor: str | None,
    point: PointTag,
) -> tuple[TagChange, ...]:
    """Move the floating tags that the semver tags just pointed at `digest` should take.

    Runs inside the push's transaction, after its tags were pointed. A push without a semver
    tag costs nothing here; one with a semver tag costs one primary-key lookup while the
    repository has floating off.
    """
    candidates = [v for v in map(semver.parse, pushed) if v is not None]
    if not candidates:
        return ()
    settings = settings_of(connection, repository_id)
    if not settings.floating_tags:
        return ()
    include = settings.float_prereleases
    tags = connection.scalars(_TAG_NAMES, {"repository_id": repository_id})
    existing = [v for v in map(semver.parse, tags) if v is not None]
    moves: list[TagChange] = []
    for candidate in candidates:
        # Only a higher version can keep a floating tag from the candidate: handing
        # should_float just those keeps a push to a repository of many releases cheap.
        higher = [v.tag for v in existing if v.precedence() > candidate.precedence()]
        for floating in semver.floating_targets(candidate, include):
            if floating in pushed:
                continue  # pointed by the push itself
            if not semver.should_float(floating, candidate, higher, include):
                continue
            change = _move(connection, point, repository_id, floating, manifest_id, digest, actor)
            if change is not None:
                moves.append(change)
    return tuple(moves)


def _move(
    connection: Connection,
    point: PointTag,
    repository_id: int,
    tag: str,
    manifest_id: int,
    digest: str,
    actor: str | None,
) -> TagChange | None:
    """One floating move, in a savepoint: a tag the repository's rules protect (the
    immutability check in `point` raises a MetadataError) stays where it is, and the push
    goes on without that move."""
    try:
        with connection.begin_nested():
            return point(
                connection, repository_id, tag, manifest_id, digest, Operation.FLOATING, actor
            )
    except MetadataError as exc:
        logger.info("floating tag %s not moved to %s: %s", tag, digest, exc)
        return None


_REPOSITORY_ID = select(Repository.id).where(Repository.name == bindparam("name"))


class VersionStore:
    """The management API's reads and writes of versions, each one transaction, on the
    metadata store's engine and write gate."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def tag_digests(self, name: str) -> list[tuple[str, str]] | None:
        """(tag, digest) of every tag; None if the repository does not exist."""
        with self._store.engine.connect() as connection:
            if connection.scalar(_REPOSITORY_ID, {"name": name}) is None:
                return None
            return tag_digests(connection, name)

    def settings(self, name: str) -> FloatingSettings | None:
        """A repository's settings; None if the repository does not exist."""
        with self._store.engine.connect() as connection:
            repository_id = connection.scalar(_REPOSITORY_ID, {"name": name})
            return None if repository_id is None else settings_of(connection, repository_id)

    def save_settings(self, name: str, settings: FloatingSettings) -> None:
        """Store a repository's settings, creating the (empty) repository if need be, so
        that floating can be turned on before the first release is pushed."""
        with self._store._write() as connection:
            repository_id = self._store._ensure_repository(connection, name)
            save_settings(connection, repository_id, settings)
