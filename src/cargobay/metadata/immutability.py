"""Immutability rules: which tags of a project may be created but never moved or deleted.

The rules are checked inside the transaction that would move or delete a tag
(`MetadataStore`), so every path (a push, a promotion, a rollback, retention, an API
delete) obeys them atomically. They are read only when a tag actually moves or goes: one
indexed query, never on a tag creation or a pull.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from cargobay.metadata.db import WriteGate, Writes
from cargobay.metadata.errors import TagImmutable
from cargobay.metadata.models import ImmutabilityRule, Project, as_utc, utcnow
from cargobay.oci import semver
from cargobay.oci.names import project_of

MAX_PATTERN_LENGTH = 255


class Kind(StrEnum):
    GLOB = "glob"  # a tag glob: `v*`, `release-?.*`
    REGEX = "regex"  # a Python regular expression the whole tag must match
    SEMVER = "semver"  # a semver range (`>=1.0.0`, `^2`): tags that are versions in it


class PatternInvalid(ValueError):
    """A rule's pattern that cannot be read as its kind says."""


def check_pattern(kind: Kind, pattern: str) -> str:
    """The pattern, if it reads as `kind`; PatternInvalid otherwise."""
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternInvalid(f"a pattern has 1 to {MAX_PATTERN_LENGTH} characters")
    if kind is Kind.REGEX:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PatternInvalid(f"not a regular expression: {exc}") from None
    elif kind is Kind.SEMVER:
        try:
            semver.parse_range(pattern)
        except semver.RangeInvalid as exc:
            raise PatternInvalid(f"not a semver range: {exc}") from None
    return pattern


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    project: str
    kind: Kind
    pattern: str
    repositories: str | None  # a glob; None: every repository of the project
    description: str | None
    created_by: str | None
    created_at: datetime

    def __str__(self) -> str:
        scope = f" on {self.repositories}" if self.repositories else ""
        return f"rule {self.id} ({self.kind} {self.pattern}{scope}) of project {self.project}"

    def covers(self, repository: str) -> bool:
        """Whether the rule applies to `repository` (a name of its project).

        The glob is matched against the name inside the project (`app`, `tools/*`) and
        against the full name (`team/app`), whichever the rule's author had in mind.
        """
        if self.repositories is None:
            return True
        inside = repository if "/" not in repository else repository.partition("/")[2]
        return fnmatch.fnmatchcase(inside, self.repositories) or fnmatch.fnmatchcase(
            repository, self.repositories
        )

    def protects(self, tag: str) -> bool:
        if self.kind is Kind.GLOB:
            return fnmatch.fnmatchcase(tag, self.pattern)
        if self.kind is Kind.REGEX:
            return _regex(self.pattern).fullmatch(tag) is not None
        version = semver.parse(tag)
        # npm's rule: a prerelease matches only a range that names one of its version.
        return version is not None and _range(self.pattern).matches(version)


def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)  # `re` keeps its own cache of compiled patterns


_RANGES: dict[str, semver.Range] = {}


def _range(pattern: str) -> semver.Range:
    found = _RANGES.get(pattern)
    if found is None:
        if len(_RANGES) > 1000:  # a bound, not a policy: rules are few
            _RANGES.clear()
        found = _RANGES[pattern] = semver.parse_range(pattern)
    return found


_COLUMNS = (
    ImmutabilityRule.id,
    Project.name,
    ImmutabilityRule.kind,
    ImmutabilityRule.pattern,
    ImmutabilityRule.repositories,
    ImmutabilityRule.description,
    ImmutabilityRule.created_by,
    ImmutabilityRule.created_at,
)
_OF_PROJECT = (
    select(*_COLUMNS)
    .join(Project, Project.id == ImmutabilityRule.project_id)
    .where(Project.name == bindparam("project"))
    .order_by(ImmutabilityRule.id)
)


def _rule(row: Any) -> Rule:
    return Rule(
        row.id,
        row.name,
        Kind(row.kind),
        row.pattern,
        row.repositories,
        row.description,
        row.created_by,
        as_utc(row.created_at),
    )


def rules_of(connection: Connection, project: str) -> list[Rule]:
    return [_rule(row) for row in connection.execute(_OF_PROJECT, {"project": project})]


def protecting_rule(rules: Iterable[Rule], repository: str, tag: str) -> Rule | None:
    """The first rule that forbids moving or deleting `tag` of `repository`, if any."""
    for rule in rules:
        if rule.covers(repository) and rule.protects(tag):
            return rule
    return None


def guard(connection: Connection, repository: str, tags: Iterable[str]) -> None:
    """Raise TagImmutable if a rule of the repository's project protects one of `tags`.

    Called, inside the write transaction, only for tags that would move or be deleted.
    """
    tags = list(tags)
    if not tags:
        return
    rules = rules_of(connection, project_of(repository))
    for tag in tags:
        rule = protecting_rule(rules, repository, tag)
        if rule is not None:
            raise TagImmutable(repository, tag, rule.id, str(rule))


_CHANGES = frozenset({"kind", "pattern", "repositories", "description"})


class ImmutabilityStore:
    """The rules themselves: list, create, change, delete (one transaction each)."""

    def __init__(self, engine: Engine, gate: WriteGate) -> None:
        self.engine = engine
        self._gate = gate
        self._write = Writes(engine, self._gate)

    def rules(self, project: str, limit: int | None = None, after: int | None = None) -> list[Rule]:
        query = _OF_PROJECT
        if after is not None:
            query = query.where(ImmutabilityRule.id > after)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            return [_rule(row) for row in connection.execute(query, {"project": project})]

    def rule(self, project: str, rule_id: int) -> Rule | None:
        query = _OF_PROJECT.where(ImmutabilityRule.id == rule_id)
        with self.engine.connect() as connection:
            row = connection.execute(query, {"project": project}).first()
        return _rule(row) if row else None

    def create(
        self,
        project: str,
        kind: Kind,
        pattern: str,
        repositories: str | None,
        description: str | None,
        created_by: str | None,
    ) -> Rule | None:
        """The new rule; None if there is no such project."""
        check_pattern(kind, pattern)
        with self._write() as connection:
            project_id = connection.scalar(select(Project.id).where(Project.name == project))
            if project_id is None:
                return None
            rule_id = connection.execute(
                insert(ImmutabilityRule)
                .values(
                    project_id=project_id,
                    kind=kind.value,
                    pattern=pattern,
                    repositories=repositories,
                    description=description,
                    created_by=created_by,
                    created_at=utcnow(),
                )
                .returning(ImmutabilityRule.id)
            ).scalar_one()
            row = connection.execute(
                _OF_PROJECT.where(ImmutabilityRule.id == rule_id), {"project": project}
            ).one()
            return _rule(row)

    def update(self, project: str, rule_id: int, changes: Mapping[str, Any]) -> Rule | None:
        """The changed rule; None if the project has no such rule."""
        if set(changes) - _CHANGES:
            raise ValueError(f"cannot change {sorted(set(changes) - _CHANGES)}")
        with self._write() as connection:
            row = connection.execute(
                _OF_PROJECT.where(ImmutabilityRule.id == rule_id), {"project": project}
            ).first()
            if row is None:
                return None
            kind = Kind(changes.get("kind", row.kind))
            check_pattern(kind, changes.get("pattern", row.pattern))
            values = {k: (v.value if isinstance(v, Kind) else v) for k, v in changes.items()}
            if values:
                connection.execute(
                    update(ImmutabilityRule).where(ImmutabilityRule.id == rule_id).values(values)
                )
            row = connection.execute(
                _OF_PROJECT.where(ImmutabilityRule.id == rule_id), {"project": project}
            ).one()
            return _rule(row)

    def delete(self, project: str, rule_id: int) -> Rule | None:
        """The deleted rule; None if the project has no such rule."""
        with self._write() as connection:
            row = connection.execute(
                _OF_PROJECT.where(ImmutabilityRule.id == rule_id), {"project": project}
            ).first()
            if row is None:
                return None
            connection.execute(delete(ImmutabilityRule).where(ImmutabilityRule.id == rule_id))
            return _rule(row)
