"""Queries of retention: policies, and the snapshot of a repository a run decides on.

A policy's schedule lives in the `schedules` table (name `retention-policy:ID`) and is
written in the same transaction as the policy, so the two cannot disagree.

Labels come from `metadata.labels`, pull times from `manifests.last_pulled_at` (kept by the
batched pull counter) and stage names from `project_stages`.
Immutable tags are read from `metadata.immutability`, so that a dry run reports them as
kept, as the real run will.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cargobay.metadata import immutability
from cargobay.metadata.db import WriteGate, Writes
from cargobay.metadata.errors import Conflict
from cargobay.metadata.job_store import drop_schedule, put_schedule
from cargobay.metadata.labels import labels_of
from cargobay.metadata.models import (
    Manifest,
    ManifestReference,
    Project,
    ProjectStage,
    Repository,
    RetentionPolicy,
    Tag,
    as_utc,
    utcnow,
)
from cargobay.oci.names import project_of

RUN_KIND = "retention.run"


def schedule_name(policy_id: int) -> str:
    return f"retention-policy:{policy_id}"


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: int
    project: str
    name: str
    repository: str
    enabled: bool
    schedule: str | None
    rules: dict[str, Any]
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PolicyValues:
    """What a policy's owner sets (on create and on update)."""

    name: str
    repository: str
    enabled: bool
    schedule: str | None
    rules: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TagRow:
    name: str
    manifest_id: int
    pushed_at: datetime


@dataclass(frozen=True, slots=True)
class ManifestRow:
    id: int
    digest: str
    pushed_at: datetime
    subject: str | None
    children: tuple[str, ...]
    pulled_at: datetime | None
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class RepositoryContents:
    tags: list[TagRow]
    manifests: list[ManifestRow]
    immutable: dict[str, str]  # tag: the rule that protects it


_POLICY = select(*RetentionPolicy.__table__.c, Project.name.label("project")).join(
    Project, Project.id == RetentionPolicy.project_id
)


def _policy(row: Any) -> PolicyRecord:
    return PolicyRecord(
        row.id,
        row.project,
        row.name,
        row.repository,
        row.enabled,
        row.schedule,
        json.loads(row.rules),
        row.created_by,
        as_utc(row.created_at),
    )


NextRun = Callable[[str], datetime]  # the next run of a cron expression, from now


class RetentionStore:
    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self.engine = engine
        self.gate = gate
        self._write = Writes(engine, self.gate)

    # -- policies --------------------------------------------------------------------------

    def create(
        self, project: str, values: PolicyValues, created_by: str | None, next_run: NextRun
    ) -> PolicyRecord | None:
        """The new policy; None if the project does not exist. Conflict on a taken name."""
        try:
            with self._write() as connection:
                project_id = connection.scalar(select(Project.id).where(Project.name == project))
                if project_id is None:
                    return None
                policy_id = connection.execute(
                    insert(RetentionPolicy)
                    .values(
                        project_id=project_id,
                        **_columns(values),
                        created_by=created_by,
                        created_at=utcnow(),
                    )
                    .returning(RetentionPolicy.id)
                ).scalar_one()
                _sync_schedule(connection, policy_id, values, next_run)
                return self._get(connection, policy_id)
        except IntegrityError:
            raise Conflict(
                f"project {project} has a retention policy named {values.name}"
            ) from None

    def update(
        self, policy_id: int, values: PolicyValues, next_run: NextRun
    ) -> PolicyRecord | None:
        try:
            with self._write() as connection:
                changed = connection.execute(
                    update(RetentionPolicy)
                    .where(RetentionPolicy.id == policy_id)
                    .values(**_columns(values))
                )
                if changed.rowcount != 1:
                    return None
                _sync_schedule(connection, policy_id, values, next_run)
                return self._get(connection, policy_id)
        except IntegrityError:
            raise Conflict(f"the project has a retention policy named {values.name}") from None

    def delete(self, policy_id: int) -> bool:
        with self._write() as connection:
            drop_schedule(connection, schedule_name(policy_id))
            result = connection.execute(
                delete(RetentionPolicy).where(RetentionPolicy.id == policy_id)
            )
            return result.rowcount > 0

    def get(self, policy_id: int) -> PolicyRecord | None:
        with self.engine.connect() as connection:
            return self._get(connection, policy_id)

    @staticmethod
    def _get(connection: Connection, policy_id: int) -> PolicyRecord | None:
        row = connection.execute(_POLICY.where(RetentionPolicy.id == policy_id)).first()
        return _policy(row) if row else None

    def list(self, project: str, limit: int, after: int | None) -> list[PolicyRecord]:
        query = _POLICY.where(Project.name == project).order_by(RetentionPolicy.id).limit(limit)
        if after is not None:
            query = query.where(RetentionPolicy.id > after)
        with self.engine.connect() as connection:
            return [_policy(row) for row in connection.execute(query)]

    # -- what a run looks at ---------------------------------------------------------------

    def project_repositories(self, project: str, unnamespaced: bool) -> list[str]:
        in_project = Repository.name.startswith(f"{project}/", autoescape=True)
        if unnamespaced:
            in_project = or_(in_project, ~Repository.name.contains("/"))
        query = select(Repository.name).where(in_project).order_by(Repository.name)
        with self.engine.connect() as connection:
            return list(connection.scalars(query))

    def contents(self, name: str) -> RepositoryContents | None:
        """A repository's tags and live manifests, with what each manifest refers to."""
        with self.engine.connect() as connection:
            repository_id = connection.scalar(select(Repository.id).where(Repository.name == name))
            if repository_id is None:
                return None
            tags = [
                TagRow(row.name, row.manifest_id, as_utc(row.updated_at))
                for row in connection.execute(
                    select(Tag.name, Tag.manifest_id, Tag.updated_at).where(
                        Tag.repository_id == repository_id
                    )
                )
            ]
            live = (Manifest.repository_id == repository_id, Manifest.deleted_at.is_(None))
            rows = connection.execute(
                select(
                    Manifest.id, Manifest.digest, Manifest.created_at, Manifest.subject_digest
                ).where(*live)
            ).all()
            children: dict[int, list[str]] = {}
            for manifest_id, digest in connection.execute(
                select(ManifestReference.manifest_id, ManifestReference.digest)
                .join(Manifest, Manifest.id == ManifestReference.manifest_id)
                .where(*live, ManifestReference.kind == "child")
                .order_by(ManifestReference.manifest_id, ManifestReference.position)
            ):
                children.setdefault(manifest_id, []).append(digest)
            ids = [row.id for row in rows]
            pulled = _pull_times(connection, ids)
            labels = labels_of(connection, ids)
            immutable = _immutable(connection, name, [t.name for t in tags])
        manifests = [
            ManifestRow(
                row.id,
                row.digest,
                as_utc(row.created_at),
                row.subject_digest,
                tuple(children.get(row.id, ())),
                pulled.get(row.id),
                labels.get(row.id, {}),
            )
            for row in rows
        ]
        return RepositoryContents(tags, manifests, immutable)

    def project_stages(self, project: str) -> list[str] | None:
        """The project's own stage tags; None: the default ones."""
        query = (
            select(ProjectStage.name)
            .join(Project, Project.id == ProjectStage.project_id)
            .where(Project.name == project)
            .order_by(ProjectStage.position)
        )
        with self.engine.connect() as connection:
            return list(connection.scalars(query)) or None


def _columns(values: PolicyValues) -> dict[str, Any]:
    return {
        "name": values.name,
        "repository": values.repository,
        "enabled": values.enabled,
        "schedule": values.schedule,
        "rules": json.dumps(values.rules),
    }


def _sync_schedule(
    connection: Connection, policy_id: int, values: PolicyValues, next_run: NextRun
) -> None:
    name = schedule_name(policy_id)
    if values.enabled and values.schedule:
        cron = values.schedule
        payload = {"policy_id": policy_id}
        put_schedule(connection, name, cron, RUN_KIND, payload, lambda: next_run(cron))
    else:
        drop_schedule(connection, name)


def _pull_times(connection: Connection, manifest_ids: Iterable[int]) -> dict[int, datetime]:
    """When each manifest was last pulled, where known."""
    ids = list(manifest_ids)
    found: dict[int, datetime] = {}
    for start in range(0, len(ids), 500):  # keep IN lists a reasonable size
        query = select(Manifest.id, Manifest.last_pulled_at).where(
            Manifest.id.in_(ids[start : start + 500]), Manifest.last_pulled_at.is_not(None)
        )
        for manifest_id, moment in connection.execute(query):
            found[manifest_id] = as_utc(moment)
    return found


def _immutable(connection: Connection, repository: str, tags: Iterable[str]) -> dict[str, str]:
    """The tags of `repository` an immutability rule protects, with the rule: a dry run
    reports them as the real run will (whose deletes the store refuses)."""
    rules = immutability.rules_of(connection, project_of(repository))
    found = {}
    for tag in tags:
        rule = immutability.protecting_rule(rules, repository, tag) if rules else None
        if rule is not None:
            found[tag] = str(rule)
    return found
