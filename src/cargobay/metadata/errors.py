"""The metadata layer's errors."""

from __future__ import annotations


class MetadataError(Exception):
    """Base of every error the metadata layer raises on purpose."""


class ManifestReferencesMissing(MetadataError):
    """A manifest refers to blobs or child manifests the repository does not hold."""

    def __init__(self, digests: list[str]) -> None:
        super().__init__(f"unknown references: {', '.join(digests)}")
        self.digests = digests


class Conflict(MetadataError):
    """The row to create exists already (a user, project, member, robot or token name)."""


class TagImmutable(MetadataError):
    """A change would move or delete a tag that an immutability rule protects.

    `rule` is the rule's own description (`rule 3 (semver >=1.0.0) of project team`).
    """

    def __init__(self, repository: str, tag: str, rule_id: int, rule: str) -> None:
        super().__init__(f'tag "{tag}" of {repository} is immutable: {rule}')
        self.repository = repository
        self.tag = tag
        self.rule_id = rule_id
        self.rule = rule


class ManifestNotFound(MetadataError):
    """A restore names a digest that is no manifest of the repository, now or in its history."""

    def __init__(self, repository: str, digest: str) -> None:
        super().__init__(f"{digest} is not a manifest of {repository}")
        self.repository = repository
        self.digest = digest


class ManifestReclaimed(MetadataError):
    """A restore names a manifest the history knows, but garbage collection reclaimed it."""

    def __init__(self, repository: str, digest: str) -> None:
        super().__init__(
            f"{repository}@{digest} was reclaimed by garbage collection (it left the history "
            "window): it can only come back by being pushed again"
        )
        self.repository = repository
        self.digest = digest


class TagUnknown(MetadataError):
    """A restore names a tag the repository never had."""

    def __init__(self, repository: str, tag: str) -> None:
        super().__init__(f"tag {tag} has no history in {repository}")
        self.repository = repository
        self.tag = tag


class QuotaExceeded(MetadataError):
    """Storing `adding` more bytes would take a project past its quota."""

    def __init__(self, project: str, quota: int, used: int, adding: int) -> None:
        super().__init__(
            f"quota exceeded in project {project}: {_size(adding)} more would make "
            f"{_size(used + adding)}, over its quota of {_size(quota)} "
            f"({_size(used)} used)"
        )
        self.project = project
        self.quota = quota
        self.used = used
        self.adding = adding


def _size(count: int) -> str:
    """Bytes for people: `512 B`, `1.5 KiB`, `10.0 GiB`."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
