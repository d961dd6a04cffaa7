"""Labels on artifacts: checked here, stored by metadata.labels, announced as events."""

from __future__ import annotations

import re

from cargobay.events import Event, EventType
from cargobay.metadata.labels import Label, LabelStore
from cargobay.registry.service import RegistryService

KEY = re.compile(r"^[a-z0-9][a-z0-9._/-]{0,127}$")
MAX_VALUE = 256


class LabelInvalid(ValueError):
    """A label key or value that cannot be stored; the message says why."""


class ArtifactNotFound(LookupError):
    pass


def check_key(key: str) -> str:
    if not KEY.match(key):
        raise LabelInvalid(
            f"label key {key!r} is invalid: use 1 to 128 characters of a-z, 0-9 and . _ / -, "
            "starting with a letter or digit"
        )
    return key


def check_value(value: str) -> str:
    if len(value) > MAX_VALUE:
        raise LabelInvalid(f"label value is longer than {MAX_VALUE} characters")
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise LabelInvalid("label value contains control characters")
    return value


def parse_assignment(text: str) -> tuple[str, str]:
    """`key=value` (the CLI's and the search's form)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise LabelInvalid(f"{text!r} is not key=value")
    return check_key(key), check_value(value)


class LabelService:
    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry
        self.store = LabelStore(registry.metadata)

    async def labels(self, repository: str, digest: str) -> list[Label]:
        found = await self.registry.db.read(self.store.labels, repository, digest)
        if found is None:
            raise ArtifactNotFound(f"{repository}@{digest} does not exist")
        return found

    async def set(
        self, repository: str, digest: str, key: str, value: str, actor: str | None
    ) -> None:
        check_key(key)
        check_value(value)
        change = await self.registry.db.write(
            self.store.set_label, repository, digest, key, value, actor
        )
        if change is None:
            raise ArtifactNotFound(f"{repository}@{digest} does not exist")
        if change.previous != value:
            self._emit(EventType.LABEL_ADDED, repository, digest, f"{key}={value}", actor)

    async def remove(self, repository: str, digest: str, key: str, actor: str | None) -> bool:
        """Remove a label; False if the artifact had no such label."""
        check_key(key)
        change = await self.registry.db.write(self.store.remove_label, repository, digest, key)
        if change is None:
            raise ArtifactNotFound(f"{repository}@{digest} does not exist")
        if change.previous is None:
            return False
        self._emit(EventType.LABEL_REMOVED, repository, digest, f"{key}={change.previous}", actor)
        return True

    def _emit(
        self, type_: EventType, repository: str, digest: str, label: str, actor: str | None
    ) -> None:
        events = self.registry.events
        if events.has_subscribers:
            events.emit(Event(type_, repository, digest=digest, label=label, actor=actor))
