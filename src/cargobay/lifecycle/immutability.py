"""Immutability rules of a project: managed here, enforced by the metadata store.

A rule takes effect on every node at once: the store reads the rules in the transaction
that would move or delete a tag, so there is nothing to cache or to tell other nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cargobay.events import Event, EventType
from cargobay.metadata.immutability import ImmutabilityStore, Kind, Rule, check_pattern
from cargobay.registry.service import RegistryService


class ImmutabilityService:
    def __init__(self, registry: RegistryService) -> None:
        self.db = registry.db
        self.events = registry.events
        self.store = ImmutabilityStore(registry.metadata.engine, registry.metadata.gate)

    def _emit(self, type_: EventType, rule: Rule, actor: str | None) -> None:
        if self.events.has_subscribers:
            self.events.emit(Event(type_, project=rule.project, subject=str(rule.id), actor=actor))

    async def rules(self, project: str, limit: int, after: int | None) -> list[Rule]:
        return await self.db.read(self.store.rules, project, limit, after)

    async def rule(self, project: str, rule_id: int) -> Rule | None:
        return await self.db.read(self.store.rule, project, rule_id)

    async def create(
        self,
        project: str,
        kind: Kind,
        pattern: str,
        repositories: str | None,
        description: str | None,
        actor: str | None,
    ) -> Rule | None:
        """The new rule (None: no such project); PatternInvalid for a pattern that does not
        read as its kind."""
        check_pattern(kind, pattern)
        rule = await self.db.write(
            self.store.create, project, kind, pattern, repositories, description, actor
        )
        if rule is not None:
            self._emit(EventType.IMMUTABILITY_RULE_CREATED, rule, actor)
        return rule

    async def update(
        self, project: str, rule_id: int, changes: Mapping[str, Any], actor: str | None
    ) -> Rule | None:
        rule = await self.db.write(self.store.update, project, rule_id, changes)
        if rule is not None:
            self._emit(EventType.IMMUTABILITY_RULE_UPDATED, rule, actor)
        return rule

    async def delete(self, project: str, rule_id: int, actor: str | None) -> bool:
        rule = await self.db.write(self.store.delete, project, rule_id)
        if rule is not None:
            self._emit(EventType.IMMUTABILITY_RULE_DELETED, rule, actor)
        return rule is not None
