"""Search over artifacts: repository name, tags, labels and OCI annotations.

Annotations are copied out of each manifest's payload when it is first stored (and by
migration 0008 for manifests stored before), only the `org.opencontainers.image.*` ones, so
that matching them is an indexed lookup rather than parsing every payload.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, false, insert, or_, select

from cargobay.metadata.labels import labels_of
from cargobay.metadata.models import (
    ArtifactAnnotation,
    ArtifactLabel,
    Manifest,
    Repository,
    Tag,
    as_utc,
    as_utc_or_none,
)
from cargobay.metadata.usage import UNNAMESPACED_PROJECT

ANNOTATION_PREFIX = "org.opencontainers.image."
MAX_KEY = 128
MAX_VALUE = 512  # longer values are kept cut (an index entry has a size limit)


def searchable_annotations(annotations: Mapping[str, Any] | None) -> dict[str, str]:
    """The annotations search knows: `org.opencontainers.image.*` with string values."""
    if not annotations:
        return {}
    return {
        key: value[:MAX_VALUE]
        for key, value in annotations.items()
        if isinstance(key, str)
        and isinstance(value, str)
        and key.startswith(ANNOTATION_PREFIX)
        and len(key) <= MAX_KEY
    }


def record_annotations(
    connection: Connection, manifest_id: int, annotations: Mapping[str, Any] | None
) -> None:
    """Called in the transaction that stores a new manifest."""
    rows = [
        {"manifest_id": manifest_id, "key": key, "value": value}
        for key, value in searchable_annotations(annotations).items()
    ]
    if rows:
        connection.execute(insert(ArtifactAnnotation), rows)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    projects: Collection[str] | None  # the projects to search; None: every one
    q: str | None = None  # in the repository name or a tag
    repository: str | None = None  # in the repository name
    tag: str | None = None  # a glob (`v1.*`) or, without * or ?, a part of a tag
    labels: Sequence[tuple[str, str | None]] = ()  # key=value, or key (any value)
    annotations: Sequence[tuple[str, str | None]] = ()
    limit: int = 50
    after: int | None = None  # the id of the last artifact of the previous page


@dataclass(frozen=True, slots=True)
class Found:
    id: int
    repository: str
    digest: str
    media_type: str
    artifact_type: str | None
    size: int
    pushed_at: datetime
    pull_count: int
    last_pulled_at: datetime | None
    tags: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def _glob(connection: Connection, column: Any, pattern: str) -> Any:
    """`column` matches a glob of * and ? (the caller has checked the characters), case
    sensitively on both databases: SQLite's LIKE ignores case, its GLOB does not."""
    if connection.dialect.name == "sqlite":
        return column.op("GLOB")(pattern)
    like = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(like.replace("*", "%").replace("?", "_"), escape="\\")


def _tag_pattern(tag: str) -> str:
    return tag if ("*" in tag or "?" in tag) else f"*{tag}*"


def _in_projects(projects: Collection[str]) -> Any:
    conditions = [
        Repository.name.startswith(f"{project}/", autoescape=True) for project in sorted(projects)
    ]
    if UNNAMESPACED_PROJECT in projects:
        conditions.append(~Repository.name.contains("/"))
    return or_(*conditions)


def _has(model: Any, key: str, value: str | None) -> Any:
    condition = and_(model.manifest_id == Manifest.id, model.key == key)
    if value is not None:
        condition = and_(condition, model.value == value)
    return select(model.manifest_id).where(condition).exists()


def search(connection: Connection, query: SearchQuery) -> list[Found]:
    """Artifacts (not deleted) that match every filter, newest first (by id)."""
    if query.projects is not None and not query.projects:
        return []
    statement = (
        select(
            Manifest.id,
            Repository.name,
            Manifest.digest,
            Manifest.media_type,
            Manifest.artifact_type,
            Manifest.size,
            Manifest.created_at,
            Manifest.pull_count,
            Manifest.last_pulled_at,
        )
        .join(Repository, Repository.id == Manifest.repository_id)
        .where(Manifest.deleted_at.is_(None))
        .order_by(Manifest.id.desc())
        .limit(query.limit)
    )
    if query.projects is not None:
        statement = statement.where(_in_projects(query.projects))
    if query.after is not None:
        statement = statement.where(Manifest.id < query.after)
    if query.repository:
        statement = statement.where(Repository.name.contains(query.repository, autoescape=True))
    if query.tag:
        statement = statement.where(_tagged(connection, _tag_pattern(query.tag)))
    if query.q:
        statement = statement.where(
            or_(
                Repository.name.contains(query.q, autoescape=True),
                _tagged(connection, f"*{query.q}*") if _plain(query.q) else false(),
            )
        )
    for key, value in query.labels:
        statement = statement.where(_has(ArtifactLabel, key, value))
    for key, value in query.annotations:
        statement = statement.where(_has(ArtifactAnnotation, key, value))
    rows = connection.execute(statement).all()
    return _complete(connection, rows)


def _plain(text: str) -> bool:
    return not any(character in text for character in "*?[]\\")


def _tagged(connection: Connection, pattern: str) -> Any:
    return (
        select(Tag.manifest_id)
        .where(Tag.manifest_id == Manifest.id, _glob(connection, Tag.name, pattern))
        .exists()
    )


def _complete(connection: Connection, rows: Sequence[Any]) -> list[Found]:
    """The rows with their tags, labels and annotations (three queries for the page)."""
    ids = [row.id for row in rows]
    tags: dict[int, list[str]] = {}
    annotations: dict[int, dict[str, str]] = {}
    if ids:
        for manifest_id, tag in connection.execute(
            select(Tag.manifest_id, Tag.name).where(Tag.manifest_id.in_(ids)).order_by(Tag.name)
        ):
            tags.setdefault(manifest_id, []).append(tag)
        for manifest_id, key, value in connection.execute(
            select(ArtifactAnnotation.manifest_id, ArtifactAnnotation.key, ArtifactAnnotation.value)
            .where(ArtifactAnnotation.manifest_id.in_(ids))
            .order_by(ArtifactAnnotation.key)
        ):
            annotations.setdefault(manifest_id, {})[key] = value
    labels = labels_of(connection, ids)
    return [
        Found(
            row.id,
            row.name,
            row.digest,
            row.media_type,
            row.artifact_type,
            row.size,
            as_utc(row.created_at),
            row.pull_count,
            as_utc_or_none(row.last_pulled_at),
            tuple(tags.get(row.id, ())),
            labels.get(row.id, {}),
            annotations.get(row.id, {}),
        )
        for row in rows
    ]
