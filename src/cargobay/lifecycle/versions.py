"""Semantic versions over a repository's tags: listing in version order, resolving a range,
and the per-repository floating-tag setting (the moves themselves happen in the push's
transaction, see `metadata.versions.float_tags`)."""

from __future__ import annotations

from dataclasses import dataclass

from cargobay.auth.accounts import NotFound
from cargobay.events import Event, EventType
from cargobay.metadata.versions import FloatingSettings, VersionStore
from cargobay.oci import names, semver
from cargobay.registry.service import RegistryService


@dataclass(frozen=True, slots=True)
class TaggedVersion:
    tag: str
    digest: str
    version: semver.Version

    @property
    def text(self) -> str:
        """The version as semver writes it: `v1.2.3_b5` is 1.2.3+b5."""
        v = self.version
        text = f"{v.major}.{v.minor}.{v.patch}"
        if v.prerelease:
            text += "-" + ".".join(map(str, v.prerelease))
        return text + (f"+{v.build}" if v.build else "")


@dataclass(frozen=True, slots=True)
class VersionListing:
    versions: list[TaggedVersion]  # in version order
    others: list[tuple[str, str]]  # (tag, digest) of the tags that are not semver, by name


class Versions:
    def __init__(self, registry: RegistryService) -> None:
        self.registry = registry
        self.store = VersionStore(registry.metadata)

    async def _tags(self, name: str) -> list[tuple[str, str]]:
        found = await self.registry.db.read(self.store.tag_digests, name)
        if found is None:
            raise NotFound(f"repository {name} does not exist")
        return found

    async def listing(
        self, name: str, *, descending: bool = False, prereleases: bool = True
    ) -> VersionListing:
        """The repository's semver tags in version order (lowest first unless
        `descending`), without prereleases unless `prereleases`; the other tags apart."""
        tags = await self._tags(name)
        digests = dict(tags)
        found = [
            TaggedVersion(v.tag, digests[v.tag], v)
            for v in semver.versions(digests)
            if prereleases or not v.is_prerelease
        ]
        if descending:
            found.reverse()
        others = sorted((t, d) for t, d in tags if semver.parse(t) is None)
        return VersionListing(found, others)

    async def resolve(self, name: str, range_text: str, prereleases: bool) -> TaggedVersion:
        """The highest tag `range_text` matches. Raises semver.RangeInvalid for a range that
        cannot be read, NotFound when no tag matches."""
        range_ = semver.parse_range(range_text)
        digests = dict(await self._tags(name))
        found = semver.resolve(range_, digests, include_prerelease=prereleases)
        if found is None:
            raise NotFound(f"no tag of {name} matches {range_text!r}")
        return TaggedVersion(found.tag, digests[found.tag], found)

    async def settings(self, name: str) -> FloatingSettings:
        found = await self.registry.db.read(self.store.settings, name)
        if found is None:
            raise NotFound(f"repository {name} does not exist")
        return found

    async def save_settings(
        self, name: str, settings: FloatingSettings, actor: str | None
    ) -> FloatingSettings:
        names.check_name(name)
        await self.registry.db.write(self.store.save_settings, name, settings)
        self.registry.events.emit(Event(EventType.REPOSITORY_UPDATED, name, actor=actor))
        return settings
