"""Tag history: every creation, move and deletion of a tag, written in the transaction
that makes the change, so the history can never disagree with the tags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select

from cargobay.metadata.models import Manifest, Repository, Tag, TagHistory, as_utc, utcnow


class Operation(StrEnum):
    """What changed a tag."""

    PUSH = "push"  # a manifest PUT on /v2
    DELETE = "delete"  # a DELETE on /v2 (of the tag, or of the manifest it pointed at)
    API = "api"  # the management API
    PROMOTION = "promotion"
    ROLLBACK = "rollback"
    RETENTION = "retention"
    FLOATING = "floating"  # a floating tag (`1.4`, `latest`) following a release


_RECORD = insert(TagHistory)


def record(
    connection: Connection,
    repository_id: int,
    tag: str,
    old_digest: str | None,
    new_digest: str | None,
    operation: Operation,
    actor: str | None,
) -> None:
    connection.execute(
        _RECORD,
        {
            "repository_id": repository_id,
            "tag": tag,
            "old_digest": old_digest,
            "new_digest": new_digest,
            "operation": operation.value,
            "actor": actor,
            "at": utcnow(),
        },
    )


# -- reading the history ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    repository: str
    tag: str
    old_digest: str | None  # None: the tag was created
    new_digest: str | None  # None: the tag was deleted
    operation: str
    actor: str | None
    at: datetime


_ENTRY_COLUMNS = (
    TagHistory.id,
    TagHistory.tag,
    TagHistory.old_digest,
    TagHistory.new_digest,
    TagHistory.operation,
    TagHistory.actor,
    TagHistory.at,
)


def entries(
    connection: Connection,
    repository_id: int,
    repository: str,
    limit: int,
    before: int | None = None,
    tag: str | None = None,
) -> list[HistoryEntry]:
    """A repository's changes (of one tag, if given), newest first, with ids below `before`."""
    query = (
        select(*_ENTRY_COLUMNS)
        .where(TagHistory.repository_id == repository_id)
        .order_by(TagHistory.id.desc())
        .limit(limit)
    )
    if tag is not None:
        query = query.where(TagHistory.tag == tag)
    if before is not None:
        query = query.where(TagHistory.id < before)
    return [
        HistoryEntry(
            row.id,
            repository,
            row.tag,
            row.old_digest,
            row.new_digest,
            row.operation,
            row.actor,
            as_utc(row.at),
        )
        for row in connection.execute(query)
    ]


def state_at(
    connection: Connection, repository_id: int, at: datetime, tag: str | None = None
) -> dict[str, str | None]:
    """Where each tag of a repository pointed at time `at` (None: the tag did not exist).

    The tag's last change at or before `at` says where it went; a tag changed only after
    `at` was where its first change found it; a tag never changed is where it is now.
    Every tag the repository has now or had since is in the answer.
    """
    moment = at.astimezone(UTC)
    mine = TagHistory.repository_id == repository_id
    if tag is not None:
        mine = and_(mine, TagHistory.tag == tag)
    current = select(Tag.name, Manifest.digest).join(Manifest, Manifest.id == Tag.manifest_id)
    current = current.where(Tag.repository_id == repository_id)
    if tag is not None:
        current = current.where(Tag.name == tag)
    state: dict[str, str | None] = {row[0]: row[1] for row in connection.execute(current)}
    first_after = select(func.min(TagHistory.id)).where(mine, TagHistory.at > moment)
    last_before = select(func.max(TagHistory.id)).where(mine, TagHistory.at <= moment)
    for column, ids in (
        (TagHistory.old_digest, first_after.group_by(TagHistory.tag)),
        (TagHistory.new_digest, last_before.group_by(TagHistory.tag)),
    ):
        query = select(TagHistory.tag, column).where(TagHistory.id.in_(ids))
        state.update((row[0], row[1]) for row in connection.execute(query))
    return state


def pointed_at(connection: Connection, repository_id: int, digest: str) -> bool:
    """Whether a tag of the repository ever pointed at `digest`, as far as history knows."""
    query = select(TagHistory.id).where(
        TagHistory.repository_id == repository_id,
        or_(TagHistory.new_digest == digest, TagHistory.old_digest == digest),
    )
    return connection.execute(query.limit(1)).first() is not None


def known_tag(connection: Connection, repository_id: int, tag: str) -> bool:
    """Whether the repository has the tag or had it once."""
    in_history = select(TagHistory.id).where(
        TagHistory.repository_id == repository_id, TagHistory.tag == tag
    )
    present = select(Tag.name).where(Tag.repository_id == repository_id, Tag.name == tag)
    return (
        connection.execute(in_history.limit(1)).first() is not None
        or connection.execute(present).first() is not None
    )


class HistoryStore:
    """Reads of the history (its writes are the tag changes of `MetadataStore`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def entries(
        self, repository: str, limit: int, before: int | None = None, tag: str | None = None
    ) -> list[HistoryEntry] | None:
        """None if the repository does not exist."""
        with self.engine.connect() as connection:
            repository_id = connection.scalar(
                select(Repository.id).where(Repository.name == repository)
            )
            if repository_id is None:
                return None
            return entries(connection, repository_id, repository, limit, before, tag)

    def state_at(self, repository: str, at: datetime) -> dict[str, str | None] | None:
        with self.engine.connect() as connection:
            repository_id = connection.scalar(
                select(Repository.id).where(Repository.name == repository)
            )
            if repository_id is None:
                return None
            return state_at(connection, repository_id, at)
