"""Tag history and rollback: read what happened to a repository's tags, and undo it.

Every restore is one metadata transaction through the push path (`MetadataStore._restore`):
immutability rules apply and each change is recorded in the history as a `rollback`. After a
restore the registry's cache is emptied on every node and tag events are emitted, as after
a push.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cargobay.events import Event, EventType
from cargobay.metadata.history import HistoryEntry, HistoryStore, Operation
from cargobay.metadata.store import Restore, TagChange
from cargobay.oci import digest as digests
from cargobay.oci import names
from cargobay.registry.errors import RegistryError
from cargobay.registry.service import RegistryService


def _unknown(name: str) -> RegistryError:
    return RegistryError("NAME_UNKNOWN", f"repository {name} does not exist", {"name": name})


class HistoryService:
    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry
        self.store = HistoryStore(registry.metadata.engine)

    async def entries(
        self, name: str, limit: int, before: int | None = None, tag: str | None = None
    ) -> list[HistoryEntry]:
        """A repository's tag changes (of one tag), newest first, ids below `before`."""
        if tag is not None:
            names.check_tag(tag)
        found = await self.registry.db.read(self.store.entries, name, limit, before, tag)
        if found is None:
            raise _unknown(name)
        return found

    async def restore_tag(
        self, name: str, tag: str, digest: str, actor: str | None, dry_run: bool = False
    ) -> Restore:
        """Point `tag` back at `digest`, a manifest of the repository (a deleted one comes
        back, while garbage collection has not reclaimed it)."""
        names.check_tag(tag)
        digests.parse(digest)
        metadata = self.registry.metadata
        result = await self.registry.db.write(
            metadata.restore_tag, name, tag, digest, actor, dry_run
        )
        return self._done(name, result, actor, dry_run)

    async def rollback(
        self,
        name: str,
        at: datetime,
        actor: str | None,
        tag: str | None = None,
        dry_run: bool = False,
    ) -> Restore:
        """Put the repository's tags (or one) back where they were at `at`."""
        if tag is not None:
            names.check_tag(tag)
        metadata = self.registry.metadata
        result = await self.registry.db.write(metadata.rollback, name, at, actor, tag, dry_run)
        return self._done(name, result, actor, dry_run)

    def _emit(self, type_: EventType, repository: str, **fields: Any) -> None:
        if self.registry.events.has_subscribers:
            self.registry.events.emit(Event(type_, repository, **fields))

    def _done(self, name: str, result: Restore | None, actor: str | None, dry_run: bool) -> Restore:
        if result is None:
            raise _unknown(name)
        if dry_run or not (result.changes or result.undeleted):
            return result
        registry = self.registry
        registry.cache.invalidate()
        for digest in result.undeleted:
            self._emit(EventType.MANIFEST_RESTORED, name, digest=digest, actor=actor)
        for change in result.changes:
            if change.new_digest is None:
                self._emit(
                    EventType.TAG_DELETED,
                    name,
                    digest=change.old_digest,
                    tag=change.tag,
                    operation=Operation.ROLLBACK,
                    actor=actor,
                )
            else:
                registry.announce_tag_changes(
                    name,
                    change.new_digest,
                    (TagChange(change.tag, change.old_digest),),
                    Operation.ROLLBACK,
                    actor,
                )
        return result
